"""Values a spec can hold but Vault cannot store as written.

Everything vaultform sends to Vault travels as JSON. YAML, though, also has
dates, timestamps, binary, .nan and .inf, which JSON has no form for: such a
value used to pass validate and fail mid-apply with an "internal error". So
`load_spec` refuses each, with its location, before anything else looks at
it; yamlpos asks `value_problem` of each scalar as it loads. (Integers are JSON at any size; the KV v2 kind refuses those a KV v2
mount would store changed.)
"""

from __future__ import annotations

import datetime
import math
from typing import Any, Optional


def value_problem(value: Any) -> Optional[str]:
    """Why one scalar cannot travel to Vault as written, or None."""
    if value is None or isinstance(value, (bool, str)):
        return None
    if isinstance(value, int):
        # Any size is valid JSON, and KV v1 keeps it exactly; where a KV v2
        # mount would store it changed, kinds/kv_secret.py refuses it per mount.
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return "is not a finite number (.nan and .inf have no JSON form): quote it to store it as text"
        return None
    if isinstance(value, (datetime.date, datetime.datetime)):
        return "is a YAML date or timestamp, which JSON cannot carry: quote it to store it as text"
    if isinstance(value, (bytes, bytearray)):
        return "is YAML binary (!!binary), which JSON cannot carry: give it as a base64 string"
    if isinstance(value, (set, frozenset)):
        return "is a YAML set (!!set), which JSON cannot carry: write it as a list"
    if isinstance(value, (list, dict)):
        return None  # its items are checked one by one
    return f"is a YAML {type(value).__name__}, which JSON cannot carry: quote it to store it as text"
