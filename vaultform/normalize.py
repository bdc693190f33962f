"""Turn what the spec says and what Vault returns into one comparable form.

Vault normalises on write (durations to seconds, comma strings to lists,
option values to strings); comparing raw values would make every plan after
an apply show changes that are not there.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, List

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h|d)")


def duration_seconds(value: Any) -> int:
    """Seconds for an int, "3600", "90m", "1h30m", "24h", "1d" or Go's "720h0m0s"."""
    if isinstance(value, bool):
        raise ValueError("a duration cannot be a boolean")
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if text == "":
        return 0
    if text.isdigit():
        return int(text)
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            raise ValueError(f"not a duration: {text!r}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"not a duration: {text!r}")
    return int(total)


def string_list(value: Any) -> List[str]:
    """Vault accepts "a,b" and ["a", "b"] alike and returns a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(v) for v in value]


def lowered_list(value: Any) -> List[str]:
    """Policy names are case-insensitive in Vault and stored lower-cased."""
    return [v.lower() for v in string_list(value)]


def option_strings(value: Any) -> dict:
    """Mount options come back as strings ({"version": 2} reads as {"version": "2"})."""
    return {str(k): str(v) for k, v in (value or {}).items()}


def pick(data: dict, fields: Iterable[str]) -> dict:
    return {f: data[f] for f in fields if f in data}
