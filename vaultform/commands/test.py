"""vaultform test SPEC: check the spec's access tests against the live Vault."""

from __future__ import annotations

import sys

import click

from vaultform.commands.common import (EXIT_ERROR, SPEC_ARGUMENT, address_option, build_context, colour,
                                       debug_option, handle_errors, out, print_warnings)
from vaultform.errors import SpecError
from vaultform.loading import load_spec


@click.command()
@SPEC_ARGUMENT
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="text: a table; json: one document for tools; markdown: for a PR comment.")
@address_option
@debug_option
@handle_errors
def test(spec_file: str, output_format: str, address, debug: bool) -> None:
    """Check the spec's `tests:` (who can and cannot do what) against Vault.

    Each identity's policies get a short-lived token that Vault is asked
    about (sys/capabilities-accessor) and that is revoked at once; nothing
    else is written. Exits 1 if any test fails.
    """
    from vaultform.access_tests import load_tests, run_live
    from vaultform.render.access import render_json, render_markdown, render_text

    spec = load_spec(spec_file)
    print_warnings(spec)
    tests = load_tests(spec)
    if not tests:
        raise SpecError("the spec has no `tests:` section: nothing to check (see docs/access-tests.md)",
                        location=spec.loc())
    ctx = build_context(spec, address)
    ctx.follow_active_node()
    ctx.ensure_token()
    run = run_live(ctx, tests)
    if run.note:
        out(f"Note: {run.note}", err=True)
    if output_format == "json":
        out(render_json(run, ctx.api.address), nl=False)
    elif output_format == "markdown":
        out(render_markdown(run), nl=False)
    else:
        out(render_text(run, colour()), nl=False)
    if not run.passed:
        sys.exit(EXIT_ERROR)


COMMAND = test
