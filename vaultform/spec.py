"""The spec file: loaded with positions, schema-checked, semantically checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

from vaultform.errors import one_line, Location, SpecError, SpecErrors, VaultformError
from vaultform.inputfile import read_text
from vaultform import jsonvalues
from vaultform.schema import dotted, validate_document
from vaultform.yamlpos import LocatedDocument, load_located

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


def load_spec(path: str) -> Spec:
    p = Path(path)
    text = read_text(path)  # refuses devices, FIFOs, directories and oversized files
    doc = load_located(text, str(path))
    errors: List[VaultformError] = list(validate_document(doc))
    unsendable = [SpecError(problem, location=doc.location(where), field=dotted(where))
                  for where, problem in jsonvalues.problems(doc.data)]
    if unsendable:
        # The schema's word for a date ("not any of the accepted forms") says less than ours.
        fields = {e.field for e in unsendable}
        errors = [e for e in errors if e.field not in fields] + unsendable
        errors.sort(key=lambda e: (e.location.line, e.location.column) if e.location else (0, 0))
    spec = Spec(path=p.resolve(), doc=doc)
    shaped = not errors
    if shaped:
        from vaultform.checks import semantic_problems  # after the schema: checks rely on its shapes
        problems, warnings = semantic_problems(spec)
        errors.extend(problems)
        spec.warnings.extend(warnings)
    elif isinstance(doc.data, dict):
        from vaultform.checks import problems_despite_schema_errors
        errors.extend(problems_despite_schema_errors(spec))
        errors.sort(key=lambda e: (e.location.line, e.location.column) if e.location else (0, 0))
    if errors:
        failure = SpecErrors(errors)
        failure.spec = spec if shaped else None  # validate reports its warnings beside the errors
        raise failure
    return spec
