"""The loaded spec: its data with positions, and what it says about the record and pruning.

Loading it (YAML, schema, checks) is loading.py's job, so the checks can
import this module without a cycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

from vaultform.errors import one_line, Location
from vaultform.yamlpos import LocatedDocument

DEFAULT_RECORD = {"mount": "vaultform", "path": "managed-objects"}


@dataclass
class Warning_:
    message: str
    location: Optional[Location] = None
    field: Optional[str] = None
    # Said by `validate` only: a command that goes on to resolve the value
    # reports the same problem as its error, and one problem gets one message.
    validate_only: bool = False

    def __str__(self) -> str:
        prefix = f"{self.location}: " if self.location else ""
        return one_line(prefix + (f"{self.field}: " if self.field else "") + self.message)


@dataclass
class Spec:
    path: Path
    doc: LocatedDocument
    warnings: List[Warning_] = field(default_factory=list)

    @property
    def data(self) -> dict:
        return self.doc.data

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def section(self, name: str) -> dict:
        return self.data.get(name) or {}

    def loc(self, *path: Any) -> Location:
        return self.doc.location(path)

    def key_loc(self, *path: Any) -> Location:
        return self.doc.key_location(path)

    @property
    def cluster(self) -> Optional[dict]:
        return self.data.get("cluster")

    @property
    def record_location(self) -> dict:
        return {**DEFAULT_RECORD, **(self.section("vault").get("record") or {})}

    def prune(self, kind_key: str) -> bool:
        return bool(self.section("prune").get(kind_key))
