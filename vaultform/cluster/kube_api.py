"""The few Kubernetes API calls the helm provider makes, with the official client.

Vault pods are found by label selector; the demo key store is a Secret. Every
failure becomes one ClusterError line naming what was asked of which API
server (never a Secret's content). The client is made on first use, so
commands that do not need Kubernetes never load a kubeconfig.

The official client's ApiClient does the work (kubeconfig and in-cluster
credentials, TLS, token refresh); requests are made through its public
param_serialize/call_api and answered as plain JSON, because importing the
generated CoreV1Api and its pydantic models costs 1.4 s of every command.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional
from urllib.parse import quote

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

    def request(self, method: str, path: str, what: str, query: Optional[list] = None,
                body: Optional[dict] = None, missing_ok: bool = False) -> Optional[dict]:
        """One API call; the answer's JSON, or None for a 404 when missing_ok."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        api_client = self.api_client()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            request = api_client.param_serialize(method=method, resource_path=path, query_params=query,
                                                 header_params=headers, body=body, auth_settings=["BearerToken"])
            response = api_client.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
            data = response.read()
        except ApiException as exc:
            raise ClusterError(_api_error(exc.status, exc.reason, exc.body, what, self.host)) from None
        except (HTTPError, OSError) as exc:
            raise ClusterError(f"cannot reach the Kubernetes API at {self.host} to {what}: "
                               f"{type(exc).__name__}") from None
        if response.status == 404 and missing_ok:
            return None
        if not 200 <= response.status < 300:
            raise ClusterError(_api_error(response.status, response.reason, data, what, self.host))
        try:
            return json.loads(data) if data else {}
        except ValueError:
            raise ClusterError(f"the Kubernetes API at {self.host} answered {what} with something not JSON") from None

    def websocket(self, path: str, query: list):
        """The official client's port-forward stream for path (a pod's portforward subresource)."""
        from kubernetes.stream.ws_client import portforward_call

        api_client = self.api_client()
        method, url, headers, _, _ = api_client.param_serialize(method="GET", resource_path=path, query_params=query,
                                                                header_params={}, auth_settings=["BearerToken"])
        return portforward_call(api_client.configuration, method, url, headers=headers, query_params=query)

    # -- pods --------------------------------------------------------------------
    def list_pods(self, namespace: str, selector: str) -> List[Pod]:
        answer = self.request("GET", f"/api/v1/namespaces/{quote(namespace)}/pods",
                              f"list pods ({selector}) in namespace {namespace}",
                              query=[("labelSelector", selector)]) or {}
        pods = []
        for item in answer.get("items") or []:
            meta, status = item.get("metadata") or {}, item.get("status") or {}
            ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
            waiting = next(((c.get("state") or {}).get("waiting", {}).get("reason")
                            for c in status.get("containerStatuses") or []
                            if ((c.get("state") or {}).get("waiting") or {}).get("reason")), None)
            pods.append(Pod(name=meta.get("name", ""), phase=status.get("phase") or "Unknown",
                            ip=status.get("podIP"), ready=ready, labels=dict(meta.get("labels") or {}),
                            waiting=waiting))
        return pods

    # -- secrets -------------------------------------------------------------------
    def _secret_path(self, namespace: str, name: str = "") -> str:
        return f"/api/v1/namespaces/{quote(namespace)}/secrets" + (f"/{quote(name)}" if name else "")

    def read_secret(self, namespace: str, name: str) -> Optional[Dict[str, str]]:
        secret = self.request("GET", self._secret_path(namespace, name), f"read the Secret {namespace}/{name}",
                              missing_ok=True)
        if secret is None:
            return None
        return {k: base64.b64decode(v).decode("utf-8") for k, v in (secret.get("data") or {}).items()}

    def write_secret(self, namespace: str, name: str, data: Dict[str, str]) -> None:
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
                "data": {k: base64.b64encode(v.encode("utf-8")).decode("ascii") for k, v in data.items()}}
        if self.read_secret(namespace, name) is not None:
            self.request("PUT", self._secret_path(namespace, name), f"replace the Secret {namespace}/{name}",
                         body=body)
        else:
            self.request("POST", self._secret_path(namespace), f"create the Secret {namespace}/{name}", body=body)

    def delete_secret(self, namespace: str, name: str) -> None:
        self.request("DELETE", self._secret_path(namespace, name), f"delete the Secret {namespace}/{name}",
                     missing_ok=True)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _api_error(status, reason, body, what: str, host: str) -> str:
    message = ""
    try:
        message = json.loads(body or "{}").get("message", "")
    except (ValueError, AttributeError, TypeError):
        pass
    if status == 401:
        return f"the Kubernetes API at {host} refused the credentials (401 Unauthorized) to {what}"
    if status == 403:
        return f"the Kubernetes API at {host} does not allow this user to {what} (403 Forbidden)"
    if not status:
        return f"cannot reach the Kubernetes API at {host} to {what}: {_one_line(str(reason or ''))}"
    detail = f": {_one_line(message)}" if message else ""
    return f"the Kubernetes API at {host} could not {what} ({status} {reason}){detail}"
