"""Last line of defence: every byte vaultform prints passes through here.

Kinds and renderers already mask sensitive fields; this catches what slips
through other paths (an exception text, a Vault error echoing input) by
replacing any registered secret string wherever it appears.
"""

from __future__ import annotations

import threading

MASK = "(sensitive)"
_MIN_LENGTH = 4  # shorter strings would mask ordinary words

_lock = threading.Lock()
_secrets: set = set()


def register(value) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, (dict, list, tuple)):
        for item in (value.values() if isinstance(value, dict) else value):
            register(item)
        return
    text = str(value)
    if len(text) >= _MIN_LENGTH:
        with _lock:
            _secrets.add(text)


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def clear() -> None:
    with _lock:
        _secrets.clear()
