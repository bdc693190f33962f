"""vaultform validate SPEC...: offline checks, as text or as JSON for CI annotations.

Needs no Vault and opens no connection. Several specs may be given at once
(pre-commit passes every matching file); each is checked on its own.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import List, Optional, Union

import click

from vaultform.checks import literal_value_warnings, unchecked_type_warnings
from vaultform.commands.common import EXIT_ERROR, debug_option, handle_errors, out
from vaultform.errors import SpecError, SpecErrors, VaultformError
from vaultform.spec import Spec, Warning_
from vaultform.loading import load_spec

Finding = Union[VaultformError, Warning_]


@dataclass
class Report:
    """What validate found in one spec file."""

    spec_file: str
    spec: Optional[Spec] = None
    errors: List[VaultformError] = field(default_factory=list)
    warnings: List[Warning_] = field(default_factory=list)

    def entry(self, finding: Finding) -> dict:
        """One finding as `--format json` lists it."""
        where = finding.location
        return {"file": where.file if where else self.spec_file, "line": where.line if where else None,
                "column": where.column if where else None, "field": finding.field, "message": finding.message}


def examine(spec_file: str) -> Report:
    report = Report(spec_file)
    try:
        report.spec = load_spec(spec_file)
    except SpecErrors as exc:
        report.errors = list(exc.errors)
        report.spec = getattr(exc, "spec", None)  # set once the schema passed: its warnings still count
    except SpecError as exc:  # unreadable file, broken YAML
        report.errors = [exc]
    if report.spec is not None:
        found = report.spec.warnings + literal_value_warnings(report.spec) + unchecked_type_warnings(report.spec)
        report.warnings = sorted(found, key=_position)
    report.errors.sort(key=_position)
    return report


def _position(finding: Finding):
    return (finding.location.line, finding.location.column) if finding.location else (0, 0)


def _summary(spec: Spec) -> str:
    from vaultform.kinds import registry  # each kind counts its own objects

    return ", ".join(filter(None, (kind.summary(spec) for kind in registry()))) or "nothing to manage"


@click.command()
@click.argument("spec_files", metavar="SPEC...", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help='json: one document {"valid", "errors", "warnings"} on stdout, for CI annotations.')
@debug_option
@handle_errors
def validate(spec_files, output_format: str, debug: bool) -> None:
    """Check SPEC offline: YAML, schema, policies, durations, value sources.

    Needs no Vault. Exits 1 if any SPEC has an error; warnings alone exit 0.
    """
    reports = [examine(spec_file) for spec_file in spec_files]
    for report in reports:
        # stderr in both formats, so a CI log shows them whatever reads stdout.
        for warning in report.warnings:
            out(f"Warning: {warning}", err=True)
        for error in report.errors:
            out(f"Error: {error}", err=True)
    valid = not any(report.errors for report in reports)
    if output_format == "json":
        out(json.dumps({"valid": valid,
                        "errors": [r.entry(e) for r in reports for e in r.errors],
                        "warnings": [r.entry(w) for r in reports for w in r.warnings]}, indent=2))
    else:
        for report in reports:
            if not report.errors:
                out(f"{report.spec_file} is valid ({_summary(report.spec)}).")
    if not valid:
        sys.exit(EXIT_ERROR)


COMMAND = validate
