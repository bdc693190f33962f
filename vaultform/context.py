"""Per-run state shared by the planner, the kinds and the executor."""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Optional

from vaultform import childenv, values
from vaultform.connection import CLUSTER_TOKEN_SOURCE, VaultAPI, resolve_token
from vaultform.errors import VaultConnectionError
from vaultform.record import Record
from vaultform.spec import Spec


class Context:
    def __init__(self, spec: Spec, api: Optional[VaultAPI], cluster=None):
        self.spec = spec
        self.api = api
        # Before any process starts: the variables the spec's sources name stay here.
        childenv.withhold(values.env_names(spec.data))
        self.cluster = cluster           # a LocalCluster when the spec has one
        self.record: Record = Record(spec.record_location["mount"], spec.record_location["path"])
        self.vault_empty = False         # a cluster that init is about to create holds nothing yet
        self.initialized_now = False     # this run initialised the local cluster
        self._ready_hooks: List[Callable[[], None]] = []
        self._cache: Dict[str, Any] = {}
        self._lock = threading.Lock()
        self._locks: Dict[str, threading.Lock] = {}

    def on_vault_ready(self, hook: Callable[[], None]) -> None:
        """Run `hook` once, just before the first configuration change."""
        self._ready_hooks.append(hook)

    def cancel_on_vault_ready(self, hook: Callable[[], None]) -> None:
        if hook in self._ready_hooks:
            self._ready_hooks.remove(hook)

    def prepare_for_config(self) -> None:
        """Before a configuration change: the active node (the leader may have
        changed while the cluster was mended), a token, then pending hooks."""
        self.follow_active_node()
        self.ensure_token()
        while self._ready_hooks:
            self._ready_hooks.pop(0)()

    def ensure_token(self) -> None:
        """Resolve the token once, on first need (a fresh cluster has none before init)."""
        if self.api.has_token and not self.initialized_now:
            return
        if self.initialized_now and self.cluster is not None:
            # A Vault this very run created can only know its own root token.
            self.api.set_token(self.cluster.root_token(), CLUSTER_TOKEN_SOURCE)
            self.initialized_now = False
            return
        token, source = self.token()
        if not token:
            raise VaultConnectionError(
                "no Vault token: set VAULT_TOKEN (or BAO_TOKEN) or log in so ~/.vault-token exists")
        self.api.set_token(token, source)
        self.api.check_token()

    def token(self) -> "tuple[Optional[str], str]":
        """The run's token and its source: the same choice for every command
        (connection.resolve_token says in which order)."""
        return resolve_token(self.cluster.root_token if self.cluster else None)

    def follow_active_node(self) -> bool:
        """Point the API at the local cluster's active node, if one is up."""
        if self.cluster is None or self.api is None:
            return False
        statuses = self.cached("cluster-status", self.cluster.statuses)
        for node, status in zip(self.cluster.nodes, statuses):
            if status.active:
                self.api.retarget(node.address)
                return True
        # No active node yet (the leader just died; an election is under way):
        # at least not a node that does not answer, which the plan's header
        # would otherwise name. A node that answers, unsealed if any is.
        current = next((st for node, st in zip(self.cluster.nodes, statuses)
                        if node.address == self.api.address), None)
        if current is None or not current.reachable:
            answering = sorted((st.sealed is not False, i) for i, st in enumerate(statuses) if st.reachable)
            if answering:
                self.api.retarget(self.cluster.nodes[answering[0][1]].address)
        return False

    def cached(self, key: str, load: Callable[[], Any]) -> Any:
        """Load once per run, even when several reader threads ask at once."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._cache:
                value = load()
                with self._lock:
                    self._cache[key] = value
            return self._cache[key]

    def forget(self, key: str) -> None:
        with self._lock:
            self._cache.pop(key, None)

    def forget_all(self) -> None:
        """Every plan reads Vault anew: a plan made again under the apply lock
        (another run held it since the first plan) must see what that run
        changed, in mount tables, namespaces and identity names alike."""
        with self._lock:
            self._cache.clear()

    def _mount_table(self, path: str) -> Dict[str, dict]:
        if self.vault_empty or self.api is None:
            return {}
        response = self.api.read(path)
        if response is None:
            # Every Vault serves its mount tables (a token may be refused them: a 403, not a 404).
            raise self.api.not_vault(f"{path} answered 404")
        data = response.get("data") or {k: v for k, v in response.items() if k.endswith("/")}
        return {k.rstrip("/"): v for k, v in data.items() if isinstance(v, dict)}

    def secret_mounts(self) -> Dict[str, dict]:
        return self.cached("sys/mounts", lambda: self._mount_table("sys/mounts"))

    def auth_mounts(self) -> Dict[str, dict]:
        return self.cached("sys/auth", lambda: self._mount_table("sys/auth"))
