"""A small Kubernetes API server for the helm provider's tests, over real TLS.

Just enough of the API for the official `kubernetes` Python client as
vaultform uses it: list pods by label selector, read/create/replace/delete
Secrets, and pod port-forwarding (the websocket protocol kubectl speaks,
relayed to the pod's real port). Its Vault pods are real OpenBao processes:
when the fake `helm` (tests/support/fake_helm.py) installs a release of the
vault or openbao chart, this server starts one `bao server` per replica,
each listening on its own pod IP (127.X.Y.n:8200, cluster port 8201) with
raft storage in a directory that plays the pod's PersistentVolumeClaim: it
survives `helm uninstall`, as real claims do. A server process that dies is
restarted at the next request, as the kubelet restarts a container.

Fault switches: ``api.stuck.add("vault-2")`` keeps that pod Pending (no
process, no IP), as a pod that cannot be scheduled or pull its image;
``api.refuse_secret_updates = True`` answers 403 to replacing a Secret.

Releases are kept here too (the fake helm stores and lists them through the
private ``/fake/releases`` endpoints), so there is one source of truth.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlparse

import requests

from tests.support.bao import bao_binary, port_is_free
from tests.support.kube import _make_tls_material

VAULT_CHARTS = ("vault", "openbao")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455


# -- values as the charts read them ------------------------------------------------

def dig(values: dict, *path, default=None):
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return default
        values = values[key]
    return values


def vault_replicas(values: dict) -> int:
    if dig(values, "server", "ha", "enabled", default=False):
        return int(dig(values, "server", "ha", "replicas", default=3))
    return 1


def fullname(release: str, chart: str, values: dict) -> str:
    if values.get("fullnameOverride"):
        return values["fullnameOverride"]
    return release if chart in release else f"{release}-{chart}"


# -- pods ---------------------------------------------------------------------------

@dataclass
class FakePod:
    namespace: str
    name: str
    labels: Dict[str, str]
    ip: Optional[str] = None
    data_dir: Optional[Path] = None       # set for pods backed by a bao process
    process: Optional[subprocess.Popen] = None
    restarts: int = 0
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def backed(self) -> bool:
        return self.data_dir is not None

    def config_text(self) -> str:
        return (
            'storage "raft" {\n'
            f'  path = "{self.data_dir / "raft"}"\n'
            f'  node_id = "{self.name}"\n'          # the chart's server.ha.raft.setNodeId: true
            '  performance_multiplier = 1\n'
            '  autopilot_reconcile_interval = "1s"\n'
            '  autopilot_update_interval = "500ms"\n'
            '}\n'
            'listener "tcp" {\n'
            f'  address = "{self.ip}:8200"\n'
            f'  cluster_address = "{self.ip}:8201"\n'
            '  tls_disable = true\n}\n'
            f'api_addr = "http://{self.ip}:8200"\n'
            f'cluster_addr = "https://{self.ip}:8201"\n'
            'ui = false\nlog_level = "warn"\n'
        )

    def start_process(self) -> None:
        (self.data_dir / "raft").mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "config.hcl"
        config.write_text(self.config_text())
        with open(self.data_dir / "bao.log", "ab") as log:
            self.process = subprocess.Popen(
                [bao_binary(), "server", f"-config={config}"], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, cwd=self.data_dir, start_new_session=True,
                env={k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))})

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop_process(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def answers(self) -> Optional[dict]:
        try:
            return requests.get(f"http://{self.ip}:8200/v1/sys/seal-status", timeout=0.5).json()
        except (requests.RequestException, ValueError):
            return None

    def to_json(self, stuck: bool) -> dict:
        if stuck:
            phase, ready, state = "Pending", False, {"waiting": {"reason": "ContainerCreating"}}
        else:
            phase = "Running"
            seal = self.answers() if self.backed else {"sealed": False}
            # The charts' readiness probe is `vault status`: ready once unsealed.
            ready = bool(seal) and seal.get("sealed") is False
            state = {"running": {"startedAt": "2024-01-01T00:00:00Z"}}
        status = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                  "containerStatuses": [{"name": "server", "image": "openbao/openbao:2.7.2", "imageID": "",
                                         "ready": ready, "restartCount": self.restarts, "state": state}]}
        if not stuck and self.ip:
            status["podIP"] = self.ip
            status["podIPs"] = [{"ip": self.ip}]
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": self.name, "namespace": self.namespace, "labels": self.labels,
                             "uid": self.uid, "creationTimestamp": "2024-01-01T00:00:00Z"},
                "spec": {"containers": [{"name": "server", "image": "openbao/openbao:2.7.2"}]},
                "status": status}


def selector_matches(selector: str, labels: Dict[str, str]) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = re.split(r"==?", term, maxsplit=1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


# -- the server -----------------------------------------------------------------------

class FakeKubeAPI:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.token = "kube-" + secrets.token_hex(16)
        self.pods: Dict[Tuple[str, str], FakePod] = {}
        self.secrets: Dict[Tuple[str, str], dict] = {}
        self.releases: Dict[Tuple[str, str], dict] = {}
        self.stuck: set = set()
        self.refuse_secret_updates = False   # PUT on a Secret answers 403, as for a user without "update"
        self.requests: List[Tuple[str, str]] = []   # (method, path) in arrival order
        self.port_forwards: List[str] = []          # pods port-forwarded to
        self.lock = threading.RLock()
        self.network = self._pick_network()
        self._next_ip = 2
        self._ips: Dict[Tuple[str, str], str] = {}
        ca, self._cert, self._key = _make_tls_material()
        self.ca_pem = ca.decode()
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self.url = ""

    # -- lifecycle ------------------------------------------------------------------
    @staticmethod
    def _pick_network() -> str:
        """A /24 of loopback addresses nobody else uses: concurrent test runs on
        one machine each get their own "pod network"."""
        for _ in range(50):
            prefix = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}"
            if all(port_is_free(8200, f"{prefix}.{n}") for n in (2, 3, 4)):
                return prefix
        raise RuntimeError("no free loopback /24 for the fake pod network")

    def start(self) -> "FakeKubeAPI":
        tmp = tempfile.mkdtemp(prefix="fake-kube-")
        try:
            cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
            cert.write_bytes(self._cert)
            key.write_bytes(self._key)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(cert), str(key))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        server = _Server(("127.0.0.1", 0), _Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        server.api = self
        self._server = server
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                         name="fake-kube-api").start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            for pod in self.pods.values():
                pod.stop_process()

    def write_kubeconfig(self, path: Path, token: Optional[str] = None) -> Path:
        ca = base64.b64encode(self.ca_pem.encode()).decode()
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url, "certificate-authority-data": ca}}],
            "users": [{"name": "tester", "user": {"token": token or self.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
        }, indent=2))
        return path

    # -- releases (the fake helm's storage) -------------------------------------------
    def set_release(self, namespace: str, name: str, release: dict) -> None:
        with self.lock:
            self.releases[(namespace, name)] = release
            self._reconcile(namespace, name, release)

    def delete_release(self, namespace: str, name: str) -> bool:
        with self.lock:
            if self.releases.pop((namespace, name), None) is None:
                return False
            for key in [k for k, p in self.pods.items() if k[0] == namespace
                        and p.labels.get("app.kubernetes.io/instance") == name]:
                self.pods.pop(key).stop_process()   # its data directory (the PVC) stays
            return True

    def _reconcile(self, namespace: str, name: str, release: dict) -> None:
        chart, values = release["chart_name"], release.get("config") or {}
        if chart in VAULT_CHARTS:
            base = fullname(name, chart, values)
            wanted = {f"{base}-{i}" for i in range(vault_replicas(values))}
            labels = {"app.kubernetes.io/name": chart, "app.kubernetes.io/instance": name, "component": "server"}
            self._ensure_pods(namespace, wanted, labels, backed=True)
            if dig(values, "injector", "enabled", default=True) is not False:
                # The agent injector's pod must not be taken for a Vault server.
                self._ensure_pods(namespace, {f"{base}-agent-injector-5d9f7c6b8-x2x4q"},
                                  {"app.kubernetes.io/name": f"{chart}-agent-injector",
                                   "app.kubernetes.io/instance": name, "component": "webhook"}, backed=False)
        elif chart == "consul":
            base = fullname(name, chart, values)
            replicas = int(dig(values, "server", "replicas", default=1))
            self._ensure_pods(namespace, {f"{base}-server-{i}" for i in range(replicas)},
                              {"app": "consul", "release": name, "component": "server",
                               "app.kubernetes.io/instance": name}, backed=False)

    def _ensure_pods(self, namespace: str, names: set, labels: dict, backed: bool) -> None:
        same_kind = {k: p for k, p in self.pods.items() if k[0] == namespace and p.labels == labels}
        for key, pod in same_kind.items():
            if pod.name not in names:       # scaled down
                self.pods.pop(key).stop_process()
        for pod_name in sorted(names):
            if (namespace, pod_name) in self.pods:
                continue
            pod = FakePod(namespace, pod_name, dict(labels))
            if backed:
                pod.data_dir = self.workdir / "volumes" / namespace / f"data-{pod_name}"
                # Real pods get a new IP when re-created, but the charts give
                # raft stable DNS names (vault-0.vault-internal); a pod keeps
                # its IP here, which plays that part.
                pod.ip = self._ips.get((namespace, pod_name)) or self._allocate_ip()
                self._ips[(namespace, pod_name)] = pod.ip
            else:
                pod.ip = f"{self.network}.{200 + len(self.pods) % 50}"
            self.pods[(namespace, pod_name)] = pod
        self._run_pods()

    def _allocate_ip(self) -> str:
        while self._next_ip < 200:
            ip = f"{self.network}.{self._next_ip}"
            self._next_ip += 1
            if port_is_free(8200, ip) and port_is_free(8201, ip):
                return ip
        raise RuntimeError("fake pod network exhausted")

    def _run_pods(self) -> None:
        """The kubelet: start what should run, restart what died."""
        with self.lock:
            for pod in self.pods.values():
                if not pod.backed or pod.name in self.stuck or pod.alive():
                    continue
                if pod.process is not None:
                    pod.restarts += 1
                pod.start_process()

    # -- test helpers -----------------------------------------------------------------
    def pod(self, name: str, namespace: Optional[str] = None) -> FakePod:
        with self.lock:
            return next(p for (ns, n), p in self.pods.items() if n == name and (namespace in (None, ns)))

    def kill(self, name: str) -> None:
        """SIGKILL the pod's server process (the container crashes)."""
        pod = self.pod(name)
        os.kill(pod.process.pid, signal.SIGKILL)
        pod.process.wait(timeout=10)

    def unstick(self, name: str) -> None:
        with self.lock:
            self.stuck.discard(name)
        self._run_pods()

    def secret_data(self, namespace: str, name: str) -> Optional[Dict[str, str]]:
        with self.lock:
            secret = self.secrets.get((namespace, name))
        if secret is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


# -- HTTP --------------------------------------------------------------------------

class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    api: FakeKubeAPI

    def handle_error(self, request, client_address):
        pass  # clients hanging up are normal here


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


POD = re.compile(r"^/api/v1/namespaces/([^/]+)/pods(?:/([^/]+))?(/portforward)?$")
SECRET = re.compile(r"^/api/v1/namespaces/([^/]+)/secrets(?:/([^/]+))?$")
RELEASE = re.compile(r"^/fake/releases(?:/([^/]+)/([^/]+))?$")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format, *args):
        pass

    @property
    def api(self) -> FakeKubeAPI:
        return self.server.api

    def _send(self, code: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def _route(self, method: str) -> None:
        url = urlparse(self.path)
        with self.api.lock:
            self.api.requests.append((method, url.path))
        if self.headers.get("Authorization") != f"Bearer {self.api.token}":
            self._send(401, _status(401, "Unauthorized", "Unauthorized"))
            return
        query = parse_qs(url.query)
        for pattern, handler in ((POD, self._pods), (SECRET, self._secrets), (RELEASE, self._releases)):
            match = pattern.match(url.path)
            if match:
                handler(method, match, query)
                return
        self._send(404, _status(404, "NotFound", f"the server could not find the requested resource {url.path}"))

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_PUT(self):
        self._route("PUT")

    def do_DELETE(self):
        self._route("DELETE")

    # -- pods ------------------------------------------------------------------------
    def _pods(self, method: str, match, query) -> None:
        namespace, name, portforward = match.groups()
        api = self.api
        api._run_pods()
        if portforward:
            self._port_forward(namespace, name, query)
            return
        if method != "GET":
            self._send(405, _status(405, "MethodNotAllowed", "only GET is served for pods here"))
            return
        with api.lock:
            pods = [p for (ns, _), p in sorted(api.pods.items()) if ns == namespace]
            stuck = set(api.stuck)
        if name:
            pod = next((p for p in pods if p.name == name), None)
            if pod is None:
                self._send(404, _status(404, "NotFound", f'pods "{name}" not found'))
            else:
                self._send(200, pod.to_json(pod.name in stuck))
            return
        selector = (query.get("labelSelector") or [""])[0]
        items = [p.to_json(p.name in stuck) for p in pods if selector_matches(selector, p.labels)]
        self._send(200, {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"},
                         "items": items})

    # -- secrets ---------------------------------------------------------------------
    def _secrets(self, method: str, match, query) -> None:
        namespace, name = match.groups()
        api = self.api
        with api.lock:
            existing = api.secrets.get((namespace, name)) if name else None
            if method == "GET" and name:
                if existing is None:
                    self._send(404, _status(404, "NotFound", f'secrets "{name}" not found'))
                else:
                    self._send(200, existing)
            elif method == "POST" and not name:
                body = self._body()
                new_name = body["metadata"]["name"]
                if (namespace, new_name) in api.secrets:
                    self._send(409, _status(409, "AlreadyExists", f'secrets "{new_name}" already exists'))
                    return
                body["metadata"]["namespace"] = namespace
                body.setdefault("apiVersion", "v1")
                body.setdefault("kind", "Secret")
                api.secrets[(namespace, new_name)] = body
                self._send(201, body)
            elif method == "PUT" and name:
                if api.refuse_secret_updates:
                    self._send(403, _status(403, "Forbidden", f'secrets "{name}" is forbidden: User "tester" '
                                                              f'cannot update resource "secrets"'))
                    return
                if existing is None:
                    self._send(404, _status(404, "NotFound", f'secrets "{name}" not found'))
                    return
                body = self._body()
                body.setdefault("apiVersion", "v1")
                body.setdefault("kind", "Secret")
                api.secrets[(namespace, name)] = body
                self._send(200, body)
            elif method == "DELETE" and name:
                if api.secrets.pop((namespace, name), None) is None:
                    self._send(404, _status(404, "NotFound", f'secrets "{name}" not found'))
                else:
                    self._send(200, _status(200, "", "") | {"status": "Success"})
            else:
                self._send(405, _status(405, "MethodNotAllowed", "not served here"))

    # -- releases (private: the fake helm's storage) ------------------------------------
    def _releases(self, method: str, match, query) -> None:
        namespace, name = match.groups()
        api = self.api
        if method == "GET" and not name:
            wanted = (query.get("namespace") or [None])[0]
            with api.lock:
                found = [r for (ns, _), r in sorted(api.releases.items()) if wanted in (None, ns)]
            self._send(200, found)
        elif method == "GET":
            with api.lock:
                release = api.releases.get((namespace, name))
            self._send(200 if release else 404, release or _status(404, "NotFound", "release: not found"))
        elif method == "PUT":
            api.set_release(namespace, name, self._body())
            self._send(200, {"ok": True})
        elif method == "DELETE":
            self._send(200 if api.delete_release(namespace, name) else 404, {})
        else:
            self._send(405, {})

    # -- port-forward over a websocket (v4.channel.k8s.io) -------------------------------
    def _port_forward(self, namespace: str, name: str, query) -> None:
        api = self.api
        ports = [int(p) for p in (query.get("ports") or ["0"])[0].split(",")]
        with api.lock:
            pod = api.pods.get((namespace, name))
        key = self.headers.get("Sec-WebSocket-Key")
        if pod is None or not pod.ip or key is None or len(ports) != 1:
            self._send(404 if pod is None else 400, _status(404, "NotFound", f'pods "{name}" not found'))
            return
        with api.lock:
            api.port_forwards.append(name)
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
        self.end_headers()
        self.close_connection = True
        port = ports[0]
        # One thread does all reads and writes: an SSL connection must not be
        # read and written from two threads at once.
        conn = self.connection
        conn.settimeout(10)

        def send_frame(payload: bytes, opcode: int = 0x2) -> None:
            header = bytes([0x80 | opcode])
            if len(payload) < 126:
                header += bytes([len(payload)])
            elif len(payload) < 65536:
                header += bytes([126]) + struct.pack("!H", len(payload))
            else:
                header += bytes([127]) + struct.pack("!Q", len(payload))
            conn.sendall(header + payload)

        port_bytes = struct.pack("<H", port)
        send_frame(b"\x00" + port_bytes)   # data channel: its first frame names the port
        send_frame(b"\x01" + port_bytes)   # error channel likewise
        try:
            upstream = socket.create_connection((pod.ip, port), timeout=5)
        except OSError as exc:
            send_frame(b"\x01" + f"error forwarding port {port} to pod {name}: {exc}".encode())
            send_frame(b"", opcode=0x8)
            return
        try:
            _relay(conn, upstream, send_frame)
        except (OSError, ValueError):
            pass
        finally:
            upstream.close()


def _frames(buffer: bytearray):
    """Complete (opcode, payload) websocket frames at the front of buffer, consumed."""
    while len(buffer) >= 2:
        opcode, length, at = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                return
            length, at = struct.unpack("!H", bytes(buffer[2:4]))[0], 4
        elif length == 127:
            if len(buffer) < 10:
                return
            length, at = struct.unpack("!Q", bytes(buffer[2:10]))[0], 10
        masked = buffer[1] & 0x80
        mask = bytes(buffer[at:at + 4]) if masked else b"\x00\x00\x00\x00"
        at += 4 if masked else 0
        if len(buffer) < at + length:
            return
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(buffer[at:at + length]))
        del buffer[:at + length]
        yield opcode, payload


def _relay(conn, upstream, send_frame) -> None:
    import select

    buffer = bytearray()
    while True:
        ready = [conn] if conn.pending() else select.select([conn, upstream], [], [], 300)[0]
        if not ready:
            return
        if conn in ready:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
            for opcode, payload in _frames(buffer):
                if opcode == 0x8:
                    return
                if opcode == 0x9:
                    send_frame(payload, opcode=0xA)
                elif opcode in (0x0, 0x2) and payload[:1] == b"\x00" and len(payload) > 1:
                    upstream.sendall(payload[1:])
        if upstream in ready:
            data = upstream.recv(65536)
            if not data:
                send_frame(b"", opcode=0x8)
                return
            send_frame(b"\x00" + data)
