"""The few Kubernetes API calls the helm provider makes, with the official client.

Vault pods are found by label selector; the demo key store is a Secret. Every
failure becomes one ClusterError line naming what was asked of which API
server (never a Secret's content). The client is made on first use, so
commands that do not need Kubernetes never load a kubeconfig.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from vaultform.errors import ClusterError

REQUEST_TIMEOUT = (5, 30)  # connect, read (seconds)
MANAGED_BY = {"app.kubernetes.io/managed-by": "vaultform"}


@dataclass
class Pod:
    name: str
    phase: str                      # Pending, Running, Succeeded, Failed, Unknown
    ip: Optional[str]
    ready: bool
    labels: Dict[str, str] = field(default_factory=dict)
    waiting: Optional[str] = None   # why a container is not running (CrashLoopBackOff, ...)

    @property
    def ordinal(self) -> Optional[int]:
        """A StatefulSet pod's index, from its name (vault-2 -> 2)."""
        match = re.search(r"-(\d+)$", self.name)
        return int(match.group(1)) if match else None

    def describe(self) -> str:
        return self.phase + (f" ({self.waiting})" if self.waiting else "")


class KubeAPI:
    def __init__(self, kubeconfig: Optional[str] = None, context: Optional[str] = None):
        self.kubeconfig, self.context = kubeconfig, context
        self._api_client = None
        self.host = "the Kubernetes API"

    # -- the client ------------------------------------------------------------
    def api_client(self):
        if self._api_client is None:
            self._api_client = self._make_client()
        return self._api_client

    def _make_client(self):
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        # The library reads KUBECONFIG once, at import; read it now instead.
        files = self.kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        found = any(os.path.exists(os.path.expanduser(p)) for p in files.split(os.pathsep) if p)
        configuration = client.Configuration()
        try:
            if found:
                config.load_kube_config(config_file=files, context=self.context,
                                        client_configuration=configuration, persist_config=False)
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=configuration)
            else:
                raise ClusterError(f"no Kubernetes credentials: no kubeconfig at {files} and not running in a pod "
                                   "(set KUBECONFIG or cluster.kubeconfig)")
        except ConfigException as exc:
            raise ClusterError(f"cannot use the kubeconfig {files}: {_one_line(str(exc))}") from None
        # A connection failure is reported, not retried for half a minute.
        configuration.retries = 1
        self.host = configuration.host
        return client.ApiClient(configuration)

    def core(self):
        from kubernetes import client

        return client.CoreV1Api(self.api_client())

    def _call(self, what: str, fn: Callable[[], Any], missing_ok: bool = False) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn()
        except ApiException as exc:
            if exc.status == 404 and missing_ok:
                return None
            raise ClusterError(_api_error(exc, what, self.host)) from None
        except (HTTPError, OSError) as exc:
            raise ClusterError(f"cannot reach the Kubernetes API at {self.host} to {what}: "
                               f"{type(exc).__name__}") from None

    # -- pods --------------------------------------------------------------------
    def list_pods(self, namespace: str, selector: str) -> List[Pod]:
        answer = self._call(f"list pods ({selector}) in namespace {namespace}",
                            lambda: self.core().list_namespaced_pod(namespace, label_selector=selector,
                                                                    _request_timeout=REQUEST_TIMEOUT))
        pods = []
        for item in answer.items or []:
            status = item.status
            ready = any(c.type == "Ready" and c.status == "True" for c in (status.conditions or []))
            waiting = next((c.state.waiting.reason for c in (status.container_statuses or [])
                            if c.state is not None and c.state.waiting is not None and c.state.waiting.reason),
                           None)
            pods.append(Pod(name=item.metadata.name, phase=status.phase or "Unknown", ip=status.pod_ip,
                            ready=ready, labels=dict(item.metadata.labels or {}), waiting=waiting))
        return pods

    # -- secrets -------------------------------------------------------------------
    def read_secret(self, namespace: str, name: str) -> Optional[Dict[str, str]]:
        secret = self._call(f"read the Secret {namespace}/{name}",
                            lambda: self.core().read_namespaced_secret(name, namespace,
                                                                       _request_timeout=REQUEST_TIMEOUT),
                            missing_ok=True)
        if secret is None:
            return None
        return {k: base64.b64decode(v).decode("utf-8") for k, v in (secret.data or {}).items()}

    def write_secret(self, namespace: str, name: str, data: Dict[str, str]) -> None:
        from kubernetes import client

        body = client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=dict(MANAGED_BY)),
            type="Opaque", data={k: base64.b64encode(v.encode("utf-8")).decode("ascii") for k, v in data.items()})
        core = self.core()
        exists = self.read_secret(namespace, name) is not None
        if exists:
            self._call(f"replace the Secret {namespace}/{name}",
                       lambda: core.replace_namespaced_secret(name, namespace, body, _request_timeout=REQUEST_TIMEOUT))
        else:
            self._call(f"create the Secret {namespace}/{name}",
                       lambda: core.create_namespaced_secret(namespace, body, _request_timeout=REQUEST_TIMEOUT))

    def delete_secret(self, namespace: str, name: str) -> None:
        self._call(f"delete the Secret {namespace}/{name}",
                   lambda: self.core().delete_namespaced_secret(name, namespace, _request_timeout=REQUEST_TIMEOUT),
                   missing_ok=True)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _api_error(exc, what: str, host: str) -> str:
    import json

    message = ""
    try:
        message = json.loads(exc.body or "{}").get("message", "")
    except (ValueError, AttributeError):
        pass
    if exc.status == 401:
        return f"the Kubernetes API at {host} refused the credentials (401 Unauthorized) to {what}"
    if exc.status == 403:
        return f"the Kubernetes API at {host} does not allow this user to {what} (403 Forbidden)"
    if exc.status == 0:
        return f"cannot reach the Kubernetes API at {host} to {what}: {_one_line(exc.reason or '')}"
    detail = f": {_one_line(message)}" if message else ""
    return f"the Kubernetes API at {host} could not {what} ({exc.status} {exc.reason}){detail}"
