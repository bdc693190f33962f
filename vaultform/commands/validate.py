"""vaultform validate SPEC: offline checks."""

from __future__ import annotations

import click

from vaultform.commands.common import SPEC_ARGUMENT, debug_option, handle_errors, out, print_warnings
from vaultform.spec import load_spec


@click.command()
@SPEC_ARGUMENT
@debug_option
@handle_errors
def validate(spec_file: str, debug: bool) -> None:
    """Check SPEC offline: YAML, schema, policies and value sources."""
    spec = load_spec(spec_file)
    print_warnings(spec)
    counts = {s: len(spec.section(s)) for s in ("secrets_engines", "auth", "policies", "secrets")}
    described = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items())
    out(f"{spec_file} is valid ({described}).")


COMMAND = validate
