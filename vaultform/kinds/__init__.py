"""The registry of resource kinds.

Every module in this package that defines `KINDS` contributes them; adding a
kind means adding one module (and its schema fragment), nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import Dict, List

from vaultform.kinds.base import Kind


@lru_cache(maxsize=1)
def registry() -> List[Kind]:
    kinds: List[Kind] = []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        kinds.extend(getattr(module, "KINDS", []))
    return sorted(kinds, key=lambda k: (k.rank, k.name))


def by_name() -> Dict[str, Kind]:
    return {k.name: k for k in registry()}
