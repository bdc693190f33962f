"""Last line of defence: every byte vaultform prints passes through here.

Secrets are kept out of output by construction first: a value from a value
source is a `values.Secret`, a field holding one is sensitive, and renderers
only ever receive a placeholder for it (render/masking.py). This module
catches what slips through other paths (an exception text, a Vault error
echoing input) by replacing any registered secret wherever it appears, in
its raw form and in the forms an error message quotes it in: JSON-escaped,
Python repr, unicode-escaped, percent-encoded.

Search-and-replace only works for strings that cannot occur by chance.
A short or low-entropy value ("1000", "root", "password") would garble
ordinary output ("Plan: 1000 to add", "/root/.vault-token") and, by the gap
it leaves, tell the reader the secret. Such values are not searched for:
they are kept out by construction only (see docs/security.md).
"""

from __future__ import annotations

import json
import math
import re
import string
import threading
from urllib.parse import quote

MASK = "(sensitive)"
_MIN_LENGTH = 8         # never search for anything shorter
_MIN_BITS = 40.0        # nor for anything a guess would find this fast
_MIN_DISTINCT = 4       # "aaaaaaaaaaaa" is not worth garbling output for

_lock = threading.Lock()
_secrets: set = set()
# Every registered secret under its first _MIN_LENGTH characters. A text is
# searched by looking each of its windows of that length up here: the cost
# grows with the text, not with the number of secrets (a 10,000-object spec
# registers tens of thousands, and testing each against every progress line
# made an apply's cost per change grow with its size).
_by_start: dict = {}
_registered_texts: set = set()   # values already registered, as given


_LOWER, _UPPER, _DIGITS = frozenset(string.ascii_lowercase), frozenset(string.ascii_uppercase), frozenset(string.digits)
_PUNCTUATION = frozenset(string.punctuation + " ")


def _alphabet_bits(text: str) -> float:
    """log2 of the alphabet the string's character classes span: a rough,
    generous strength estimate (a dictionary word still scores as random)."""
    chars = set(text)
    size = 0
    if not chars.isdisjoint(_LOWER):
        size += 26
    if not chars.isdisjoint(_UPPER):
        size += 26
    if not chars.isdisjoint(_DIGITS):
        size += 10
    if not chars.isdisjoint(_PUNCTUATION):
        size += 33
    if not (text.isascii() and text.isprintable()):  # beyond ASCII, or a control character
        size += 64
    return math.log2(size) if size else 0.0


def searchable(text: str) -> bool:
    """Whether a string is distinctive enough to be searched for in output
    without masking words, numbers or paths that merely equal it."""
    text = text.strip()
    if len(text) < _MIN_LENGTH or len(set(text)) < _MIN_DISTINCT:
        return False
    return len(text) * _alphabet_bits(text) >= _MIN_BITS


def forms(text: str) -> set:
    """The raw string and the escaped forms an error or a dump may show it in."""
    out = {text}
    for ascii_only in (True, False):
        out.add(json.dumps(text, ensure_ascii=ascii_only)[1:-1])
    out.add(repr(text)[1:-1])
    out.add(text.encode("unicode_escape").decode("ascii"))
    out.add(quote(text, safe=""))
    out.add(quote(text))
    return {f for f in out if f}


def register(value) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        for item in (value.values() if isinstance(value, dict) else value):
            register(item)
        return
    text = str(value)
    with _lock:
        if text in _registered_texts:
            return  # the same value from many sources (one variable in every secret)
    candidates = {text, text.strip()}
    if "\n" in text.strip():
        # A PEM key or a multi-line secret: any one line may be quoted alone.
        candidates.update(line.strip() for line in text.splitlines())
    found = set()
    for candidate in candidates:
        if searchable(candidate):
            found |= {f for f in forms(candidate) if searchable(f)}
    if found:
        with _lock:
            for secret in found - _secrets:
                _by_start.setdefault(secret[:_MIN_LENGTH], []).append(secret)
            _secrets.update(found)
    with _lock:
        _registered_texts.add(text)


def is_registered(text: str) -> bool:
    with _lock:
        return text in _secrets


# vaultform's own masking labels pass through untouched, so a secret that
# happens to be a common word ("value") cannot garble them.
_LABELS = ("(sensitive value changed)", "(sensitive value added)", "(sensitive value removed)",
           "(sensitive value)", "(sensitive)")


def redact(text: str) -> str:
    if not text:
        return text
    secrets = _occurring(text)
    if not secrets:
        return text
    # One pass over the text: labels first in the alternation so they win at
    # their position; longer secrets before shorter ones they contain.
    alternatives = list(_LABELS) + sorted(secrets, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(a) for a in alternatives))
    return pattern.sub(lambda m: m.group(0) if m.group(0) in _LABELS else MASK, text)


def _occurring(text: str) -> set:
    """The registered secrets that occur in text (every one is at least
    _MIN_LENGTH long: `searchable`)."""
    found = set()
    with _lock:
        if not _by_start:
            return found
        starts = _by_start
        for i in range(len(text) - _MIN_LENGTH + 1):
            candidates = starts.get(text[i:i + _MIN_LENGTH])
            if candidates:
                found.update(c for c in candidates if text.startswith(c, i))
    return found


def clear() -> None:
    with _lock:
        _secrets.clear()
        _by_start.clear()
        _registered_texts.clear()
