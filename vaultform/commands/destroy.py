"""vaultform destroy SPEC: remove what the spec manages."""

from __future__ import annotations

import click

from vaultform.commands.apply import apply_with_report, plan_again_under_lock
from vaultform.commands.common import (no_colour_option, SPEC_ARGUMENT, address_option, build_context, colour, confirm,
                                       debug_option, handle_errors, out)
from vaultform.executor import apply_plan
from vaultform.lock import apply_lock, version_before_plan
from vaultform.planner import make_destroy_plan
from vaultform.render.progress import progress_option
from vaultform.render.text import render_plan
from vaultform.loading import load_spec


@click.command()
@SPEC_ARGUMENT
@click.option("--auto-approve", is_flag=True, help="Destroy without asking for confirmation.")
@click.option("--uninstall-releases", is_flag=True,
              help="helm provider: also uninstall the spec's helm releases (their volume claims are kept).")
@progress_option
@no_colour_option
@address_option
@debug_option
@handle_errors
def destroy(spec_file: str, auto_approve: bool, uninstall_releases: bool, address, debug: bool) -> None:
    """Remove every object SPEC manages (and stop and delete a local cluster)."""
    spec = load_spec(spec_file)
    ctx = build_context(spec, address)
    seen = None if ctx.cluster is not None else version_before_plan(ctx)
    the_plan = make_destroy_plan(ctx, uninstall_releases)
    out(render_plan(the_plan, ctx.api.address, colour()))
    if not the_plan.changes and not the_plan.record_work:
        return
    if the_plan.changes:
        out()
        confirm(auto_approve, "Do you really want to destroy all these objects?")
    if ctx.cluster is not None:
        # The whole local cluster goes, its lock with it; it may be down or
        # sealed, so there may be no Vault to take a lock in at all.
        apply_with_report(ctx, the_plan, done_word="Destroy")
        return
    with apply_lock(ctx, the_plan) as lock:
        if lock is not None and lock.moved_since(seen):
            # Someone applied since this plan began: destroy what is there now.
            the_plan = plan_again_under_lock(ctx, the_plan, lambda: make_destroy_plan(ctx, uninstall_releases),
                                             auto_approve, "Do you really want to destroy all these objects?")
        if the_plan.changes:
            apply_with_report(ctx, the_plan, done_word="Destroy")
        else:
            apply_plan(ctx, the_plan)  # record work only


COMMAND = destroy
