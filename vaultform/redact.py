"""Last line of defence: every byte vaultform prints passes through here.

Kinds and renderers already mask sensitive fields; this catches what slips
through other paths (an exception text, a Vault error echoing input) by
replacing any registered secret string wherever it appears.
"""

from __future__ import annotations

import re
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


# vaultform's own masking labels pass through untouched, so a secret that
# happens to be a common word ("value") cannot garble them.
_LABELS = ("(sensitive value changed)", "(sensitive value added)", "(sensitive value removed)",
           "(sensitive value)", "(sensitive)")


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        secrets = [s for s in _secrets if s in text]
    if not secrets:
        return text
    # One pass over the text: labels first in the alternation so they win at
    # their position; longer secrets before shorter ones they contain.
    alternatives = list(_LABELS) + sorted(secrets, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(a) for a in alternatives))
    return pattern.sub(lambda m: m.group(0) if m.group(0) in _LABELS else MASK, text)


def clear() -> None:
    with _lock:
        _secrets.clear()
