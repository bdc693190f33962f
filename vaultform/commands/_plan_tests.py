"""`vaultform plan --test`: the plan, then the spec's access tests before
and after it, in the plan's own format (one JSON document; one PR comment)."""

from __future__ import annotations

import json

from vaultform.access_tests import load_tests, run_planned
from vaultform.commands.common import out
from vaultform.commands.plan import show_plan
from vaultform.errors import SpecError
from vaultform.render import access
from vaultform.render.formats import JSON, MARKDOWN, render_plan_as
from vaultform.render.json_plan import dump


def show_plan_with_tests(ctx, the_plan, output_format: str, show_unmanaged: bool = False) -> bool:
    """Show the plan and its access tests; True when every test passes after it."""
    tests = load_tests(ctx.spec)
    if not tests:
        raise SpecError("--test: the spec has no `tests:` section (see docs/access-tests.md)",
                        location=ctx.spec.loc())
    if the_plan.deferred:
        # The cluster must change before its configuration can be read: nothing to evaluate against yet.
        show_plan(ctx, the_plan, output_format, show_unmanaged)
        out(f"Access tests not evaluated: {the_plan.deferred}", err=True)
        return True
    run = run_planned(ctx, the_plan, tests)
    if output_format == JSON:
        for warning in the_plan.warnings:
            out(f"Warning: {warning}", err=True)
        document = json.loads(render_plan_as(JSON, the_plan, ctx.api.address, False, show_unmanaged))
        document["access_tests"] = access.run_to_json(run)
        out(dump(document), nl=False)
    elif output_format == MARKDOWN:
        comment = render_plan_as(MARKDOWN, the_plan, ctx.api.address, False, show_unmanaged).rstrip("\n")
        out(comment + "\n\n" + access.render_markdown(run), nl=False)
    else:
        show_plan(ctx, the_plan, output_format, show_unmanaged)
        out()
        out(access.render_text(run, colour=False), nl=False)
    return run.passed
