"""Values a spec can hold but Vault cannot store as written.

Everything vaultform sends to Vault travels as JSON, and Vault (and most of
its clients) read JSON numbers as IEEE doubles. YAML, though, also has
dates, binary, sets, .nan and .inf, and integers of any size. Such a value
either fails late, mid-apply ("internal error"), or is stored changed
(9007199254740993 came back as ...992) and then re-planned for ever. So
`load_spec` refuses each, with its location, before anything else looks at it.
"""

from __future__ import annotations

import datetime
import math
from typing import Any, Iterator, Optional, Tuple

MAX_EXACT_INTEGER = 2 ** 53


def value_problem(value: Any) -> Optional[str]:
    """Why one scalar cannot travel to Vault as written, or None."""
    if value is None or isinstance(value, (bool, str)):
        return None
    if isinstance(value, int):
        if abs(value) > MAX_EXACT_INTEGER:
            return "is an integer beyond 2^53, which Vault would store rounded: quote it to keep it exact"
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


def problems(data: Any, path: Tuple[Any, ...] = ()) -> Iterator[Tuple[Tuple[Any, ...], str]]:
    """(path, problem) for every value in `data` that JSON cannot carry exactly."""
    stack = [(data, path)]
    while stack:
        value, where = stack.pop()
        problem = value_problem(value)
        if problem:
            yield where, problem
        elif isinstance(value, dict):
            stack.extend((inner, where + (key,)) for key, inner in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((inner, where + (i,)) for i, inner in reversed(list(enumerate(value))))
