"""`access: port-forward`: reach pods through the Kubernetes API, like
`kubectl port-forward`, while every address stays the pod's own.

Connections that urllib3 (under requests and hvac) opens to a routed pod
address (its IP and Vault port) are made instead through a port-forward
stream of the official client (what kubernetes.stream.portforward opens),
one stream per connection as kubectl does: the approach of the client's own
pod_portforward example. Nothing listens locally, addresses in plans and
saved plans stay the same from run to run, and the same code serves
`access: pod-ip`, where nothing is routed.
"""

from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

import urllib3.util.connection

_lock = threading.Lock()
_routes: Dict[Tuple[str, int], "PodRoute"] = {}
_original = urllib3.util.connection.create_connection


class PodRoute:
    def __init__(self, kube, namespace: str, pod: str, port: int):
        self.kube, self.namespace, self.pod, self.port = kube, namespace, pod, port
        self.last_error: Optional[str] = None

    def open(self, timeout):
        from vaultform.errors import ClusterError

        try:
            stream = self.kube.websocket(f"/api/v1/namespaces/{self.namespace}/pods/{self.pod}/portforward",
                                         [("ports", str(self.port))])
        except ClusterError as exc:
            self.last_error = exc.message
            raise ConnectionRefusedError(exc.message) from None
        except Exception as exc:
            self.last_error = f"port-forward to pod {self.pod} failed: {_reason(exc)}"
            raise ConnectionRefusedError(self.last_error) from None
        self.last_error = None
        sock = stream.socket(self.port)
        sock.settimeout(None if timeout is None or not isinstance(timeout, (int, float)) else timeout)
        sock.port_forward = stream  # keeps the stream (and its relay thread) with the socket
        return sock


def _reason(exc: Exception) -> str:
    status, reason = getattr(exc, "status", None), getattr(exc, "reason", None)
    if reason:
        return " ".join(str(reason).split())[:200] + (f" (HTTP {status})" if status else "")
    return type(exc).__name__


def _create_connection(address, *args, **kwargs):
    host, port = address[0], int(address[1])
    with _lock:
        route = _routes.get((host, port))
    if route is None:
        return _original(address, *args, **kwargs)
    timeout = args[0] if args else kwargs.get("timeout")
    return route.open(timeout)


def route(host: str, port: int, kube, namespace: str, pod: str) -> PodRoute:
    """Send connections to host:port through a port-forward to pod:port."""
    with _lock:
        existing = _routes.get((host, port))
        if existing is None or (existing.namespace, existing.pod) != (namespace, pod):
            _routes[(host, port)] = PodRoute(kube, namespace, pod, port)
        if urllib3.util.connection.create_connection is not _create_connection:
            urllib3.util.connection.create_connection = _create_connection
        return _routes[(host, port)]


def routed(host: str, port: int) -> Optional[PodRoute]:
    with _lock:
        return _routes.get((host, port))

