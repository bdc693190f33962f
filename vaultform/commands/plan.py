"""vaultform plan SPEC: show what apply would change, and optionally save it for apply."""

from __future__ import annotations

import sys
from typing import Optional

import click

from vaultform import planfile
from vaultform.commands.common import (no_colour_option, EXIT_CHANGES, EXIT_ERROR, SPEC_ARGUMENT, address_option, build_context, colour,
                                       debug_option, handle_errors, out, print_warnings, safety_options,
                                       target_option)
from vaultform.context import Context
from vaultform.model import Plan
from vaultform.planner import PlanOptions, make_plan
from vaultform.render.formats import FORMATS, JSON, TEXT, render_plan_as
from vaultform.spec import Spec
from vaultform.loading import load_spec

format_option = click.option(
    "--format", "output_format", type=click.Choice(FORMATS), default=TEXT, show_default=True,
    help="text for a terminal, json for tools (schemas/plan-output.schema.json), markdown for a PR comment.")


def load_context(spec_file: str, address: Optional[str]) -> "tuple[Spec, Context]":
    spec = load_spec(spec_file)
    print_warnings(spec)
    return spec, build_context(spec, address)


def show_plan(ctx: Context, the_plan: Plan, output_format: str, show_unmanaged: bool = False) -> None:
    if output_format == JSON:
        # stdout carries the JSON document alone; people still see warnings.
        for warning in the_plan.warnings:
            out(f"Warning: {warning}", err=True)
    out(render_plan_as(output_format, the_plan, ctx.api.address, colour(), show_unmanaged), nl=False)


@click.command()
@SPEC_ARGUMENT
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when there are no changes, 2 when there are.")
@click.option("--out", "out_file", metavar="PLANFILE", type=click.Path(dir_okay=False),
              help="Save the plan to PLANFILE (no secret values in it); `vaultform apply PLANFILE` applies exactly it.")
@format_option
@click.option("--test", "access_tests", is_flag=True,
              help="Also evaluate the spec's `tests:` against the planned policies, beside their result now "
                   "(docs/access-tests.md). Exits 1 if a test fails after the plan.")
@click.option("--show-unmanaged", is_flag=True,
              help="List the objects in Vault that vaultform does not manage: of every kind `prune:` can delete "
                   "(in JSON: the \"unmanaged\" key).")
@target_option
@safety_options
@no_colour_option
@address_option
@debug_option
@handle_errors
def plan(spec_file: str, detailed_exitcode: bool, out_file: Optional[str], output_format: str, access_tests: bool,
         show_unmanaged: bool, targets, allow_destroy: bool, force: bool, address, debug: bool) -> None:
    """Show what apply would change in Vault."""
    options = PlanOptions(targets=tuple(targets), allow_destroy=allow_destroy, force=force)
    spec, ctx = load_context(spec_file, address)
    configured_address = ctx.api.address  # before any move to a cluster's active node
    the_plan = make_plan(ctx, options, show_unmanaged=show_unmanaged)
    if out_file:
        # Saved before it is shown: a plan that cannot be saved is an error, not a review.
        planfile.write(out_file, planfile.build(ctx, the_plan, options, spec_file, configured_address), spec.path)
    if access_tests:
        from vaultform.commands._plan_tests import show_plan_with_tests  # only when asked: rich, acl_eval

        tests_passed = show_plan_with_tests(ctx, the_plan, output_format, show_unmanaged)
    else:
        show_plan(ctx, the_plan, output_format, show_unmanaged)
    if out_file:
        # JSON and Markdown keep stdout for the document; the note goes to the log.
        text_mode = output_format == TEXT
        if text_mode:
            out()
        out(f"Saved the plan to {out_file}. Apply exactly this plan with: vaultform apply {out_file}",
            err=not text_mode)
    if access_tests and not tests_passed:
        sys.exit(EXIT_ERROR)
    if detailed_exitcode and not the_plan.empty:
        sys.exit(EXIT_CHANGES)


COMMAND = plan
