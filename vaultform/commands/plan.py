"""vaultform plan SPEC: show what apply would change."""

from __future__ import annotations

import sys
from typing import Optional

import click

from vaultform.commands.common import (EXIT_CHANGES, SPEC_ARGUMENT, address_option, build_context, colour,
                                       debug_option, handle_errors, out, print_warnings, safety_options,
                                       target_option)
from vaultform.planner import PlanOptions, make_plan
from vaultform.render.text import render_plan
from vaultform.spec import load_spec


def load_and_plan(spec_file: str, address: Optional[str], options: PlanOptions):
    spec = load_spec(spec_file)
    print_warnings(spec)
    ctx = build_context(spec, address)
    return spec, ctx, make_plan(ctx, options)


@click.command()
@SPEC_ARGUMENT
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when there are no changes, 2 when there are.")
@target_option
@safety_options
@address_option
@debug_option
@handle_errors
def plan(spec_file: str, detailed_exitcode: bool, targets, allow_destroy: bool, force: bool, address,
         debug: bool) -> None:
    """Show what apply would change in Vault."""
    options = PlanOptions(targets=tuple(targets), allow_destroy=allow_destroy, force=force)
    _, ctx, the_plan = load_and_plan(spec_file, address, options)
    out(render_plan(the_plan, ctx.api.address, colour()))
    if detailed_exitcode and not the_plan.empty:
        sys.exit(EXIT_CHANGES)


COMMAND = plan
