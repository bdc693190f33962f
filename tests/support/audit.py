"""Read an OpenBao file audit log: which requests changed something, and where.

OpenBao 2.x enables audit devices only from server configuration (an API
`PUT sys/audit/<path>` answers 400), so a test server gets one with
:func:`file_audit_hcl` passed as ``BaoDevServer(config_hcl=...)``. The device
writes one JSON object per line, a ``request`` and a ``response`` entry per
call, with ``request.operation`` and ``request.path`` in clear (values are
HMACed), and it writes the request entry before Vault handles the request:
a write that Vault then refused is still seen.
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
    operation: str   # create, update or delete
    path: str        # as Vault logs it: no /v1/ prefix, e.g. "sys/policies/acl/web"

    def __str__(self) -> str:
        return f"{self.operation} {self.path}"


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

    def requests_since(self, offset: int) -> List[dict]:
        """The ``request`` entries logged after ``offset``, in order."""
        with open(self.path, "rb") as f:
            f.seek(offset)
            data = f.read()
        entries = []
        # Only whole lines: a line still being written belongs to a later call.
        for line in data.split(b"\n")[:-1]:
            if not line.strip():
                continue
            entry = json.loads(line)
            if entry.get("type") == "request":
                entries.append(entry["request"])
        return entries

    def writes_since(self, offset: int) -> List[Write]:
        return [Write(r["operation"], r["path"]) for r in self.requests_since(offset)
                if r.get("operation") in WRITE_OPERATIONS]
