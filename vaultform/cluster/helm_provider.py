"""`cluster: {provider: helm}`: Vault installed by helm into Kubernetes.

The releases themselves are resources of kind helm_release (kinds/helm_release.py).
This module is the cluster once they are installed: the Vault pods, found
with the official `kubernetes` client by label selector and matched to
cluster.node[i] by their StatefulSet ordinal, and reached at their pod
address: directly (`access: pod-ip`, for vaultform running inside the
cluster) or through a port-forward per connection (`access: port-forward`,
see portforward.py). Init, unseal and raft join are the same code as the
local provider's (base.py).
"""

from __future__ import annotations

import time
from typing import List, Optional

from vaultform.cluster import portforward
from vaultform.cluster.base import NodeStatus, VaultCluster, VaultNode
from vaultform.cluster.helm_cli import Helm
from vaultform.cluster.keys import FileKeyStore, SecretKeyStore
from vaultform.cluster.kube_api import KubeAPI, Pod
from vaultform.cluster.local import load_custody_keys
from vaultform.cluster.releases import ReleaseSpec, load_releases
from vaultform.errors import ClusterError

PORT_FORWARD = "port-forward"
DEFAULT_READY_TIMEOUT = 300
REFRESH_EVERY = 0.5   # seconds between pod listings while polling


def _dig(values: dict, *path, default=None):
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return default
        values = values[key]
    return values


class PodNode(VaultNode):
    """cluster.node[i]: the Vault pod with StatefulSet ordinal i."""

    def __init__(self, cluster: "HelmCluster", index: int, expected_name: str):
        self.cluster = cluster
        self.index = index
        self.expected_name = expected_name
        self.pod: Optional[Pod] = None

    @property
    def name(self) -> str:
        return self.pod.name if self.pod else self.expected_name

    @property
    def running(self) -> bool:
        return self.pod is not None and self.pod.phase == "Running" and bool(self.pod.ip)

    @property
    def has_data(self) -> bool:
        return self.pod is not None  # its volume claim holds the storage

    @property
    def address(self) -> str:
        """The pod's own address, also with port-forward (the connection is routed)."""
        host = self.pod.ip if self.pod and self.pod.ip else f"{self.name}.{self.cluster.namespace}"
        return f"{self.cluster.scheme}://{host}:{self.cluster.port}"

    @property
    def identity(self) -> dict:
        return {"pod": self.name}

    @property
    def absent_reason(self) -> str:
        return f"no pod yet: the {self.cluster.vault_release_name} release makes it"

    @property
    def log_hint(self) -> str:
        return f"see kubectl -n {self.cluster.namespace} logs {self.name}"

    def seal_status(self) -> Optional[dict]:
        if not self.running:
            return None
        return super().seal_status()

    def start(self) -> None:
        """A pod cannot be started from here: wait (bounded) until its
        StatefulSet has it running and Vault in it answers."""
        timeout = self.cluster.ready_timeout
        deadline = time.monotonic() + timeout
        while True:
            self.cluster.refresh()
            if self.seal_status() is not None:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(REFRESH_EVERY)
        ns = self.cluster.namespace
        if self.pod is None:
            raise ClusterError(f"no pod {self.expected_name} (label selector {self.cluster.selector}) appeared in "
                               f"namespace {ns} within {timeout} s; see kubectl -n {ns} get pods,statefulsets")
        if not self.running:
            raise ClusterError(f"pod {self.name} in namespace {ns} is still {self.pod.describe()} after {timeout} s; "
                               f"see kubectl -n {ns} describe pod {self.name}")
        route = portforward.routed(self.pod.ip, self.cluster.port) if self.pod.ip else None
        if route is not None and route.last_error:
            raise ClusterError(f"cannot port-forward to pod {self.name} in namespace {ns} after {timeout} s: "
                               f"{route.last_error}")
        raise ClusterError(f"Vault in pod {self.name} does not answer at {self.address} after {timeout} s; "
                           f"{self.log_hint}")


class HelmCluster(VaultCluster):
    provider = "helm"
    WAIT_FOR_VOTERS = False
    STORAGE_OUTLIVES_NODES = True
    REJOIN_REASON = "left the raft cluster: it can join again only with an empty volume (apply says how)"

    def __init__(self, spec):
        cfg = spec.cluster or {}
        self.namespace: str = cfg.get("namespace", "default")
        self.access: str = cfg.get("access", PORT_FORWARD)
        self.releases: List[ReleaseSpec] = load_releases(spec)
        self.vault_release_name: str = cfg.get("vault_release", "vault")
        vault = self.vault_release
        pods = cfg.get("pods") or {}
        chart = vault.chart_name if vault else "vault"
        self.selector: str = pods.get("selector") or (
            f"app.kubernetes.io/name={chart},app.kubernetes.io/instance={self.vault_release_name}")
        self.port: int = int(pods.get("port", 8200))
        self.scheme: str = pods.get("scheme", "http")
        self.ready_timeout: int = int(pods.get("ready_timeout", DEFAULT_READY_TIMEOUT))
        self.kubeconfig = str((spec.base_dir / cfg["kubeconfig"]).resolve()) if cfg.get("kubeconfig") else None
        self.kube = KubeAPI(self.kubeconfig, cfg.get("context"))
        self.helm = Helm(self.namespace, self.kubeconfig, cfg.get("context"))

        init = cfg.get("init") or {}
        self.key_shares = int(init.get("key_shares", 5))
        self.key_threshold = int(init.get("key_threshold", 3))
        secret = (cfg.get("keys") or {}).get("kubernetes_secret")
        if secret:
            self.keys = SecretKeyStore(self.kube, self.namespace, secret)
            self.rescue_keys_file = (spec.base_dir / ".vaultform" / "cluster-keys.rescued.json").resolve()
        else:
            keys_file = init.get("keys_file") or ".vaultform/cluster-keys.json"
            self.keys = FileKeyStore(spec.base_dir / keys_file)
        self.pgp_keys, self.root_token_pgp_key = load_custody_keys(spec)

        count = int(cfg.get("nodes") or self._replicas_from_values())
        base_name = self._statefulset_name()
        self.nodes = [PodNode(self, i, f"{base_name}-{i}") for i in range(count)]
        self._listed_at: Optional[float] = None

    # -- from the spec ---------------------------------------------------------
    @property
    def vault_release(self) -> Optional[ReleaseSpec]:
        return next((r for r in self.releases if r.name == self.vault_release_name), None)

    def _replicas_from_values(self) -> int:
        """As the official chart (and OpenBao's) decides: server.ha.replicas
        (default 3) when server.ha.enabled, else one server."""
        values = self.vault_release.values if self.vault_release else {}
        if _dig(values, "server", "ha", "enabled", default=False) is True:
            replicas = _dig(values, "server", "ha", "replicas", default=3)
            # A value of the wrong type is the chart's to refuse, at install.
            return replicas if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas > 0 else 3
        return 1

    def _statefulset_name(self) -> str:
        """The chart's fullname, which its StatefulSet and pods are named after."""
        release = self.vault_release
        values = release.values if release else {}
        if values.get("fullnameOverride"):
            return str(values["fullnameOverride"])
        chart = release.chart_name if release else "vault"
        return self.vault_release_name if chart in self.vault_release_name else f"{self.vault_release_name}-{chart}"

    # -- pods ----------------------------------------------------------------------
    def refresh(self, force: bool = True) -> None:
        """Match the pods the selector finds to the nodes, by ordinal."""
        if not force and self._listed_at is not None and time.monotonic() - self._listed_at < REFRESH_EVERY:
            return
        pods = self.kube.list_pods(self.namespace, self.selector)
        self._listed_at = time.monotonic()
        by_ordinal = {p.ordinal: p for p in pods if p.ordinal is not None}
        unnumbered = sorted((p for p in pods if p.ordinal is None), key=lambda p: p.name)
        for node in self.nodes:
            # Pods beyond `nodes` are left alone: the spec says how many there should be.
            node.pod = by_ordinal.pop(node.index, None) or (unnumbered.pop(0) if unnumbered else None)
            if self.access == PORT_FORWARD and node.pod is not None and node.pod.ip:
                portforward.route(node.pod.ip, self.port, self.kube, self.namespace, node.pod.name)

    def _ensure_listed(self) -> None:
        if self._listed_at is None:
            self.refresh()

    def statuses(self) -> List[NodeStatus]:
        self.refresh()
        return super().statuses()

    def active_node(self):
        self.refresh(force=False)
        return super().active_node()

    def has_data(self) -> bool:
        self._ensure_listed()
        return any(node.has_data for node in self.nodes)

    # -- how commands address it ---------------------------------------------------
    @property
    def address(self) -> str:
        self._ensure_listed()
        return self.nodes[0].address

    @property
    def logs_hint(self) -> str:
        return f"see kubectl -n {self.namespace} logs -l {self.selector}"

    def serves(self, address: str) -> bool:
        self._ensure_listed()
        return address.rstrip("/") in {node.address for node in self.nodes} | {self.address}

    def address_conflict(self, given: str, address: str) -> str:
        return (f"the spec installs Vault with helm into namespace {self.namespace} and reaches its pods itself, "
                f"but {given} points at {address}: unset {given}")

    def rejoin(self, index: int) -> None:
        node, ns = self.nodes[index], self.namespace
        raise ClusterError(f"{node.name} was removed from raft and cannot rejoin with its old data: delete its "
                           f"volume claim and the pod (kubectl -n {ns} delete pvc data-{node.name}; kubectl -n {ns} "
                           f"delete pod {node.name}), then run apply again")

    def member_name(self, server: dict) -> str:
        """Raft node ids are pod names only with the chart's setNodeId; else
        the member is recognised by its address (pod IP or pod DNS name)."""
        node_id = server.get("node_id", "")
        host = str(server.get("address", "")).rsplit(":", 1)[0]
        for node in self.nodes:
            if node_id == node.name:
                return node.name
            if node.pod is not None and (host == node.pod.ip or host.split(".")[0] == node.name):
                return node.name
        return node_id
