"""Read an OpenBao file audit log: which requests changed something, and where.

OpenBao 2.x enables audit devices only from server configuration (an API
`PUT sys/audit/<path>` answers 400), so a test server gets one with
:func:`file_audit_hcl` passed as ``BaoDevServer(config_hcl=...)``. The device
writes one JSON object per line, a ``request`` and a ``response`` entry per
call, with ``request.operation`` and ``request.path`` in clear (values are
HMACed), and it writes the request entry before Vault handles the request:
a write that Vault then refused is still seen.

Measured on OpenBao 2.7.2: a request into a namespace (header
``X-Vault-Namespace: team``, or the path ``team/sys/...``) is logged with the
path relative to that namespace (``sys/policies/acl/p``) and the namespace in
``request.namespace`` as ``{"id": ..., "path": "team/"}``; one in the root
namespace carries ``{"id": "root"}`` and no ``path``. A :class:`Write` puts
the two together again, so a namespaced write reads ``team/sys/policies/acl/p``
and can never pass for the root's ``sys/policies/acl/p``.

A request Vault refused is logged too, and its ``response`` entry (same
``request.id``) carries a top-level ``error`` (measured: a DELETE of a
namespace holding another answers 400 and logs "unable to delete namespace
containing child namespaces"). :attr:`Write.refused` says so: such a request
changed nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import List

WRITE_OPERATIONS = frozenset({"create", "update", "delete"})


def file_audit_hcl(log_path: str, name: str = "file") -> str:
    """Server config for a file audit device writing to ``log_path``."""
    return (f'audit "file" {json.dumps(name)} {{\n'
            f'  options {{\n    file_path = {json.dumps(str(log_path))}\n  }}\n'
            f'}}\n')


@dataclass(frozen=True)
class Write:
    operation: str       # create, update or delete
    path: str            # the full path from the root namespace, no /v1/ prefix: "sys/policies/acl/web",
                         # or "team/sys/policies/acl/web" for one made in namespace team
    namespace: str = ""  # the namespace it was made in ("team", "team/child"); "" for the root
    refused: bool = False  # Vault answered it with an error: nothing changed

    def __str__(self) -> str:
        return f"{self.operation} {self.path}"


def namespace_of(request: dict) -> str:
    """The namespace a logged request was made in, without its trailing "/"."""
    return ((request.get("namespace") or {}).get("path") or "").strip("/")


def full_path(request: dict) -> str:
    namespace = namespace_of(request)
    return f"{namespace}/{request['path']}" if namespace else request["path"]


class AuditLog:
    """A file audit log, read by byte offset: :meth:`mark` before a command,
    :meth:`writes_since` after it gives that command's writes."""

    def __init__(self, path: str):
        self.path = path

    def mark(self) -> int:
        try:
            return os.path.getsize(self.path)
        except FileNotFoundError:
            return 0

    def _entries_since(self, offset: int) -> List[dict]:
        with open(self.path, "rb") as f:
            f.seek(offset)
            data = f.read()
        # Only whole lines: a line still being written belongs to a later call.
        return [json.loads(line) for line in data.split(b"\n")[:-1] if line.strip()]

    def requests_since(self, offset: int) -> List[dict]:
        """The ``request`` entries logged after ``offset``, in order."""
        return [e["request"] for e in self._entries_since(offset) if e.get("type") == "request"]

    def writes_since(self, offset: int) -> List[Write]:
        entries = self._entries_since(offset)
        refused = {e["request"].get("id") for e in entries if e.get("type") == "response" and e.get("error")}
        return [Write(r["operation"], full_path(r), namespace_of(r), r.get("id") in refused)
                for r in (e["request"] for e in entries if e.get("type") == "request")
                if r.get("operation") in WRITE_OPERATIONS]
