"""The apply lock: one apply at a time against a Vault."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def apply_lock(ctx):
    yield
