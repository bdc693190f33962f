"""Loading a spec file: YAML with positions, the JSON Schema, then the
semantic checks (which rely on the schema's shapes), every problem at once."""

from __future__ import annotations

from pathlib import Path
from typing import List

from vaultform.checks import problems_despite_schema_errors, semantic_problems
from vaultform.errors import SpecError, SpecErrors, VaultformError
from vaultform.inputfile import read_text
from vaultform.schema import dotted, validate_document
from vaultform.spec import Spec
from vaultform.yamlpos import load_located


def load_spec(path: str) -> Spec:
    p = Path(path)
    text = read_text(path)  # refuses devices, FIFOs, directories and oversized files
    doc = load_located(text, str(path))
    errors: List[VaultformError] = list(validate_document(doc))
    unsendable = [SpecError(problem, location=doc.location(where), field=dotted(where))
                  for where, problem in doc.unsendable]  # jsonvalues.value_problem, found while loading
    if unsendable:
        # The schema's word for a date ("not any of the accepted forms") says less than ours.
        fields = {e.field for e in unsendable}
        errors = [e for e in errors if e.field not in fields] + unsendable
        errors.sort(key=lambda e: (e.location.line, e.location.column) if e.location else (0, 0))
    spec = Spec(path=p.resolve(), doc=doc)
    shaped = not errors
    if shaped:
        problems, warnings = semantic_problems(spec)
        errors.extend(problems)
        spec.warnings.extend(warnings)
    elif isinstance(doc.data, dict):
        errors.extend(problems_despite_schema_errors(spec, {e.field for e in errors if e.field}))
        errors.sort(key=lambda e: (e.location.line, e.location.column) if e.location else (0, 0))
    if errors:
        failure = SpecErrors(errors)
        failure.spec = spec if shaped else None  # validate reports its warnings beside the errors
        raise failure
    return spec
