"""What every cluster provider does through Vault's own API: init, unseal,
raft join, finding the active node, raft membership.

A provider (local processes, helm-installed pods) only decides how its nodes
are started and reached; a node only needs `index`, `name`, `address` (where
vaultform reaches it), `peer_address` (where the other nodes reach it, for a
raft join), `log_hint` (where to look when it misbehaves) and `status()`.
Readiness is polled, never slept for, and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional

import requests

from vaultform import redact
from vaultform.cluster import keyfile
from vaultform.connection import http_request
from vaultform.errors import ClusterError

START_TIMEOUT = 30.0
POLL_INTERVAL = 0.05


def _http(method: str, url: str, **kwargs) -> requests.Response:
    """connection.http_request: TLS verified the way every Vault connection is
    (VAULT_CACERT, VAULT_SKIP_VERIFY); a helm-installed Vault may serve https."""
    return http_request(method, url, **kwargs)


@dataclass
class NodeStatus:
    name: str
    address: str
    running: bool = False        # the process (or pod) is there
    reachable: bool = False      # answers the API
    initialized: Optional[bool] = None
    sealed: Optional[bool] = None
    active: Optional[bool] = None
    progress: int = 0


class VaultNode:
    """The Vault-API half of a node: asked about its seal state over HTTP."""

    index: int
    name: str

    @property
    def address(self) -> str:
        raise NotImplementedError

    @property
    def peer_address(self) -> str:
        return self.address

    @property
    def log_hint(self) -> str:
        return "see its log"

    @property
    def running(self) -> bool:
        raise NotImplementedError

    def seal_status(self) -> Optional[dict]:
        try:
            response = _http("GET", f"{self.address}/v1/sys/seal-status", timeout=2)
        except (requests.exceptions.RequestException, ClusterError):
            return None
        if response.status_code != 200:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    def status(self) -> NodeStatus:
        st = NodeStatus(name=self.name, address=self.shown_address, running=self.running)
        seal = self.seal_status() if st.running else None
        if seal is not None:
            st.reachable = True
            st.initialized = bool(seal.get("initialized"))
            st.sealed = bool(seal.get("sealed"))
            st.progress = int(seal.get("progress") or 0)
            if st.initialized and not st.sealed:
                try:
                    health = _http("GET", f"{self.address}/v1/sys/health", timeout=2)
                    st.active = health.status_code == 200
                except (requests.exceptions.RequestException, ClusterError):
                    st.active = None
        return st

    @property
    def shown_address(self) -> str:
        """The address `status` shows (stable from run to run)."""
        return self.address

    @property
    def identity(self) -> dict:
        """What the plan shows to say which node cluster.node[i] is."""
        return {"address": self.address}

    @property
    def absent_reason(self) -> str:
        """Why the plan creates this node."""
        return "not running"


def submit_share(node, key: str) -> dict:
    """PUT one unseal share; the answer says whether the node is unsealed."""
    try:
        response = _http("PUT", f"{node.address}/v1/sys/unseal", json={"key": key}, timeout=30)
    except (requests.exceptions.RequestException, ClusterError):
        raise ClusterError(f"cannot reach {node.name} at {node.address} to unseal it") from None
    if response.status_code != 200:
        try:
            reason = "; ".join(response.json().get("errors", []))
        except ValueError:
            reason = f"HTTP {response.status_code}"
        raise ClusterError(redact.redact(f"unseal of {node.name} was refused: {reason}"))
    return response.json()


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ctrl-C or SIGTERM between Vault's answer to init and the stored keys
    would lose them for good: hold both until the keys are stored (or init
    failed), then deliver them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: List[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum)) for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        if received:
            signal.raise_signal(received[0])


class VaultCluster:
    """Init, unseal and raft membership, the same for every provider.

    Subclasses set `nodes`, `keys` (a key store, see keys.py), `key_shares`,
    `key_threshold`, `pgp_keys`, `root_token_pgp_key`.
    """

    provider = ""
    # Wait for joined nodes to become raft voters, not just members: autopilot
    # promotes them after its stabilisation time, which only the local
    # provider shortens (on loopback there is no flapping to wait out).
    WAIT_FOR_VOTERS = True
    # Whether the storage can survive the nodes (helm keeps volume claims):
    # then a cluster with no node yet may still be initialised.
    STORAGE_OUTLIVES_NODES = False
    # What the plan says of a node that left raft (see rejoin()).
    REJOIN_REASON = "left the raft cluster: its data is wiped and it joins again"

    nodes: list
    key_shares: int
    key_threshold: int
    pgp_keys: List[str]
    root_token_pgp_key: Optional[str]

    @property
    def custody(self) -> bool:
        """Shares encrypted to custodians: vaultform never holds a usable one."""
        return bool(self.pgp_keys)

    def statuses(self) -> List[NodeStatus]:
        return [node.status() for node in self.nodes]

    # -- keys ------------------------------------------------------------
    def read_keys(self) -> Optional[dict]:
        keys = self.keys.read()
        if keys is None:
            return None
        for name in ("unseal_keys_b64", "unseal_keys_hex", "root_token",
                     "encrypted_unseal_keys_b64", "encrypted_root_token"):
            redact.register(keys.get(name))
        return keys

    def root_token(self) -> Optional[str]:
        keys = self.read_keys()
        return keys.get("root_token") if keys else None

    def _keys_from_init(self, response: dict) -> dict:
        if self.custody:
            # What Vault returned is encrypted to each custodian's key; only
            # they can read a share. Kept for them to collect, never used here.
            keys = {"pgp": True, "encrypted_unseal_keys_b64": response.get("keys_base64", []),
                    "unseal_shares": self.key_shares, "unseal_threshold": self.key_threshold}
            if self.root_token_pgp_key:
                keys["encrypted_root_token"] = response.get("root_token")
            else:
                keys["root_token"] = response.get("root_token")
        else:
            keys = {"unseal_keys_b64": response.get("keys_base64", []), "unseal_keys_hex": response.get("keys", []),
                    "unseal_shares": self.key_shares, "unseal_threshold": self.key_threshold,
                    "root_token": response.get("root_token")}
        for value in keys.values():
            if isinstance(value, (str, list)):
                redact.register(value)
        return keys

    # -- operations --------------------------------------------------------
    def initialize(self) -> None:
        node = self.nodes[0]
        # A key store that cannot be written would lose the keys Vault hands
        # out exactly once: find out (and take the file's name) before asking.
        self.keys.prepare()
        with _interrupts_held():
            try:
                response = self._init_request(node)
            except BaseException:
                self.keys.release()
                raise
            self._store_keys(self._keys_from_init(response))

    def _init_request(self, node) -> dict:
        try:
            body = {"secret_shares": self.key_shares, "secret_threshold": self.key_threshold}
            if self.pgp_keys:
                body["pgp_keys"] = self.pgp_keys
            if self.root_token_pgp_key:
                body["root_token_pgp_key"] = self.root_token_pgp_key
            response = _http("PUT", f"{node.address}/v1/sys/init", timeout=60, json=body)
        except (requests.exceptions.RequestException, ClusterError):
            raise ClusterError(f"cannot reach {node.name} at {node.address} to initialise it") from None
        if response.status_code != 200:
            errors = "; ".join(response.json().get("errors", [])) if response.content else response.reason
            raise ClusterError(f"init of {node.name} failed: {errors}")
        return response.json()

    # Where init's answer goes first when its store refuses it (set by
    # providers whose store is remote; never overwritten); else a fresh file
    # beside the keys file (or beside this one), else a fresh private
    # directory under the system's temp directory.
    rescue_keys_file = None

    def _store_keys(self, keys: dict) -> None:
        """Vault hands the keys out once: they must land somewhere, or the
        cluster could never be unsealed. Errors name paths, never a share."""
        failure = None
        for attempt in range(3):
            try:
                self.keys.write(keys)
                return
            except ClusterError as exc:
                failure = exc
                time.sleep(0.2 * (attempt + 1))
        data = json.dumps(keys, indent=2).encode()
        near = getattr(self.keys, "path", None) or self.rescue_keys_file
        rescued, why = keyfile.rescue(data, preferred=self.rescue_keys_file, near=near)
        self.keys.release()
        stored = f"the cluster was initialised but its keys could not be stored in {self.keys.description} " \
                 f"({failure.message})"
        if rescued is None:
            raise ClusterError(f"{stored}, nor in a rescue file ({why}): they are lost and this cluster can never "
                               "be unsealed; destroy it, fix the cause, then run apply again")
        raise ClusterError(f"{stored}; they were written to {rescued} (mode 0600) instead: "
                           f"{self.keys.restore_hint(rescued)}")

    def unseal(self, index: int, timeout: float = START_TIMEOUT) -> None:
        node = self.nodes[index]
        keys = self.read_keys()
        if self.custody or (keys or {}).get("pgp"):
            progress = (node.seal_status() or {}).get("progress", 0)
            raise ClusterError(f"{node.name} is sealed and its shares are held by custodians "
                               f"({progress}/{self.key_threshold} entered): each runs `vaultform unseal SPEC` "
                               f"with their decrypted share, then run apply again")
        if not keys or not keys.get("unseal_keys_b64"):
            raise ClusterError(f"{node.name} is sealed and there is {self.keys.missing}")
        # A node that has not joined raft yet reports initialized=false until
        # an unsealed peer answers its join challenge; keys sent before that
        # are refused, so wait for it first.
        status = self.join(index, timeout)
        if status.get("sealed", True):
            for key in keys["unseal_keys_b64"][: self.key_threshold]:
                answer = submit_share(node, key)
                if not answer.get("sealed", True):
                    break
        if self.active_node() is None:
            # The first node to unseal becomes active; a joining node
            # finishes unsealing by itself once in raft, which is waited
            # for later (wait_voter) so that several nodes join at once.
            self._wait(node, lambda st: st.get("sealed") is False, timeout, f"{node.name} did not become unsealed")

    def join(self, index: int, timeout: float = START_TIMEOUT) -> dict:
        """Wait until the node knows it is initialised; for a node not yet in
        raft that needs an unsealed peer, asked directly rather than waiting
        for retry_join's next round (or for ever, where there is none)."""
        node = self.nodes[index]
        status = node.seal_status() or {}
        if status.get("initialized"):
            return status
        # Only an active node can take a new member.
        active = self.wait_active(timeout)
        if active is not node:
            try:
                _http("POST", f"{node.address}/v1/sys/storage/raft/join", timeout=10,
                              json={"leader_api_addr": active.peer_address})
            except (requests.exceptions.RequestException, ClusterError):
                pass  # retry_join, where configured, still works on its own
        return self._wait(node, lambda st: st.get("initialized"), timeout, f"{node.name} did not join the cluster")

    def _wait(self, node, done: Callable[[dict], bool], timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = node.seal_status()
            if status is not None and done(status):
                return status
            time.sleep(POLL_INTERVAL)
        raise ClusterError(f"{what} within {timeout:.0f} s; {node.log_hint}")

    def wait_unsealed(self, index: int, timeout: float = START_TIMEOUT) -> dict:
        node = self.nodes[index]
        return self._wait(node, lambda st: st.get("sealed") is False, timeout, f"{node.name} did not become unsealed")

    def wait_active(self, timeout: float = START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            node = self.active_node()
            if node is not None:
                return node
            time.sleep(POLL_INTERVAL)
        raise ClusterError(f"no active node within {timeout:.0f} s; {self.logs_hint}")

    @property
    def logs_hint(self) -> str:
        return "see the nodes' logs"

    def active_node(self):
        for node in self.nodes:
            if node.status().active:
                return node
        return None

    # -- raft membership (needs a token) -------------------------------------
    def raft_configuration(self, token: str) -> Optional[List[dict]]:
        """The raft servers as the active node lists them; None when there is
        no active node, no token, or no raft (another storage backend)."""
        active = self.active_node()
        if active is None or not token:
            return None
        try:
            response = _http("GET", f"{active.address}/v1/sys/storage/raft/configuration",
                                    headers={"X-Vault-Token": token}, timeout=5)
        except (requests.exceptions.RequestException, ClusterError):
            return None
        if response.status_code != 200:
            return None
        return ((response.json().get("data") or {}).get("config") or {}).get("servers") or []

    def member_name(self, server: dict) -> str:
        """Which of our nodes a raft server is (by default its node_id is the node's name)."""
        return server.get("node_id", "")

    def raft_servers(self, token: str) -> Optional[dict]:
        """node name -> {"voter": bool, "leader": bool}, read from the active node."""
        servers = self.raft_configuration(token)
        if servers is None:
            return None
        return {self.member_name(s): {"voter": bool(s.get("voter")), "leader": bool(s.get("leader"))}
                for s in servers}

    def rejoin(self, index: int) -> None:
        """Bring back a node that was removed from raft (its old data cannot rejoin)."""
        raise NotImplementedError

    def removed_nodes(self) -> list:
        """Nodes that exist but that the spec no longer counts (nodes: 3 -> 1)."""
        return []

    def leave_raft(self, node, token: Optional[str]) -> None:
        """Take `node` out of the raft configuration before it goes, so the
        remaining voters keep their quorum. The active node steps down first."""
        if not token:
            raise ClusterError(f"removing {node.name} from raft needs a token (VAULT_TOKEN or the keys file)")
        headers = {"X-Vault-Token": token}
        if node.status().active:
            try:
                _http("PUT", f"{node.address}/v1/sys/step-down", headers=headers, timeout=10)
            except requests.exceptions.RequestException:
                pass
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                active = self.active_node()
                if active is not None and active is not node:
                    break
                time.sleep(POLL_INTERVAL)
        active = self.wait_active()
        if active is node:
            raise ClusterError(f"{node.name} is still the active node; cannot remove it from raft")
        try:
            response = _http("POST", f"{active.address}/v1/sys/storage/raft/remove-peer", headers=headers,
                             json={"server_id": node.name}, timeout=10)
        except requests.exceptions.RequestException:
            raise ClusterError(f"cannot reach {active.name} at {active.address} to remove {node.name} from raft") from None
        if response.status_code not in (200, 204):
            raise ClusterError(f"raft refused to remove {node.name} (HTTP {response.status_code})")

    def tune_autopilot(self, token: str) -> None:
        """Only the local provider tunes autopilot (see WAIT_FOR_VOTERS)."""

    def wait_voter(self, index: int, token: str, timeout: float = 60.0) -> None:
        """Unsealed and a raft voter (raft lists a member as voter even while it
        is down); for providers that leave autopilot alone, a raft member."""
        node = self.nodes[index]
        self._wait(node, lambda st: st.get("sealed") is False, timeout, f"{node.name} did not become unsealed")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            servers = self.raft_servers(token)
            if servers is None:
                return  # no token to look with, or no raft: membership is not ours to check
            member = servers.get(node.name)
            if member is not None and (member.get("voter") or not self.WAIT_FOR_VOTERS):
                return
            time.sleep(0.2)
        what = "a raft voter" if self.WAIT_FOR_VOTERS else "a raft member"
        raise ClusterError(f"{node.name} did not become {what} within {timeout:.0f} s; {node.log_hint}")
