"""Turn what the spec says and what Vault returns into one comparable form.

Vault normalises on write (durations to seconds, comma strings to lists,
option values to strings); comparing raw values would make every plan after
an apply show changes that are not there.
"""

from __future__ import annotations

import re
from typing import Any, List

_GO_UNIT_NANOS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_GO_PART = re.compile(r"([0-9]+)(?:\.([0-9]+))?(ns|us|µs|ms|s|m|h)")
_MAX_NANOS = 2**63 - 1  # Go's time.Duration: Vault refuses anything longer (about 292 years)


class NotADuration(ValueError):
    """The text is not in any form Vault reads as a duration."""


def duration_seconds(value: Any) -> int:
    """Seconds for a duration, parsed the way Vault parses one (measured on
    OpenBao 2.7.2): whole seconds, a Go duration ("90m", "1h30m", Vault's own
    "720h0m0s"), or whole days alone ("7d"). Raises ValueError saying why
    Vault would refuse it, never quoting it. One parser serves both the
    comparisons here and validate's checks, so they cannot disagree."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("must be integer or string")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("cannot be negative")
        nanos = value * 10**9
    elif value == "":
        return 0
    elif re.fullmatch(r"[0-9]+", value):
        nanos = int(value) * 10**9
    elif re.fullmatch(r"[0-9]+d", value):
        nanos = int(value[:-1]) * 86400 * 10**9
    elif value.startswith("-"):
        raise ValueError("cannot be negative")
    else:
        nanos, pos = 0, 0
        for part in _GO_PART.finditer(value):
            if part.start() != pos:
                break
            whole, fraction, unit = part.groups()
            scale = _GO_UNIT_NANOS[unit]
            nanos += int(whole) * scale + (int(fraction) * scale // 10 ** len(fraction) if fraction else 0)
            pos = part.end()
        if pos == 0 or pos != len(value):
            raise NotADuration("is not a duration")
    if nanos > _MAX_NANOS:
        raise ValueError("is longer than Vault can hold (2562047h, about 292 years)")
    return nanos // 10**9


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

