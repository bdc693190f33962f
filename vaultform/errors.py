"""Typed errors. Everything below the CLI raises these; the CLI alone decides
how they are printed and which exit code they give (always 1)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

_LINE_BREAKS = re.compile(r"\s*[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")


def one_line(text: str) -> str:
    """Fold a message onto one line. Vault's multi-error texts ("2 errors
    occurred:\\n\\t* ...") and the YAML reader's ("...\\n  in <file>, line 3")
    span several; every error vaultform prints is exactly one."""
    return _LINE_BREAKS.sub(" ", str(text)).strip()


EXIT_ERROR = 1  # every error; 2 means "changes" to --detailed-exitcode


@dataclass(frozen=True)
class Location:
    """Where in a spec file a value was written (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class VaultformError(Exception):
    """A problem the user can act on. Its message is one line and never holds
    a secret value, share or token."""

    def __init__(self, message: str, location: Optional[Location] = None,
                 field: Optional[str] = None, address: Optional[str] = None):
        message = one_line(message)
        super().__init__(message)
        self.message = message
        self.location = location
        self.field = field
        self.address = address

    def __str__(self) -> str:
        parts = []
        if self.location is not None:
            parts.append(str(self.location))
        if self.address:
            parts.append(self.address)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return one_line(": ".join(parts))


class SpecError(VaultformError):
    """The spec file is unreadable, malformed or inconsistent."""


class SpecErrors(VaultformError):
    """Several spec problems, reported together so one run shows them all."""

    def __init__(self, errors: list[VaultformError]):
        self.errors = errors
        super().__init__(f"{len(errors)} problem(s) in the spec")

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class ValueSourceError(VaultformError):
    """An env var, file or generator for a value could not be resolved."""


class VaultConnectionError(VaultformError):
    """Vault could not be reached, or refused us."""


class VaultRequestError(VaultformError):
    """A request to Vault failed; the message names the path (never the body)."""


class UnsupportedOperation(VaultRequestError):
    """Vault answered 405: the path serves no such operation (a write-only endpoint's GET)."""


class PermissionDenied(VaultRequestError):
    """The token's policies do not allow a request (a least-privilege planner
    token is refused secret data on purpose, and kinds may fall back)."""


class ClusterError(VaultformError):
    """The local cluster could not be started, initialised or unsealed."""


class ApplyError(VaultformError):
    """Apply stopped at a failed change."""


class Refused(VaultformError):
    """The user did not (or could not) confirm."""
