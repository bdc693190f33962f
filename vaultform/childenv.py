"""The environment of every process vaultform starts (bao nodes, helm).

A child inherits its parent's environment for its whole life, readable in
/proc/<pid>/environ by anyone who may inspect the process (its user, root, a
core dump): an OpenBao node that apply starts would otherwise hold the
caller's VAULT_TOKEN and every value-source variable until it stops. None of
them is needed by a child, so none reaches one: a token variable, a variable
the spec names in `{env: NAME}`, or one whose value is a registered secret.
"""

from __future__ import annotations

import os
import threading
from typing import Dict, Iterable

from vaultform import redact

# Variables that carry a Vault token (read by vaultform, hvac and the bao CLI).
TOKEN_VARIABLES = frozenset({"VAULT_TOKEN", "BAO_TOKEN"})

_lock = threading.Lock()
_withheld: set = set()


def withhold(names: Iterable[str]) -> None:
    """Never pass these variables on (the spec's `{env: NAME}` sources)."""
    with _lock:
        _withheld.update(str(n) for n in names)


def withheld() -> frozenset:
    with _lock:
        return frozenset(_withheld) | TOKEN_VARIABLES


def child_environment() -> Dict[str, str]:
    """os.environ without anything secret: pass as `env=` to every subprocess."""
    names = withheld()
    return {name: value for name, value in os.environ.items()
            if name not in names and not redact.is_registered(value) and not redact.is_registered(value.strip())}
