"""vaultform apply SPEC: make Vault match the spec."""

from __future__ import annotations

import time

import click

from vaultform import redact
from vaultform.commands.common import (SPEC_ARGUMENT, address_option, colour, confirm, debug_option,
                                       handle_errors, out, safety_options, target_option)
from vaultform.commands.plan import load_and_plan
from vaultform.context import Context
from vaultform.errors import VaultformError
from vaultform.executor import apply_plan
from vaultform.lock import apply_lock
from vaultform.model import Change, Plan
from vaultform.planner import PlanOptions, make_plan
from vaultform.render.text import render_plan


class ProgressPrinter:
    def __init__(self):
        self.started = time.monotonic()

    def __call__(self, event: str, change: Change, index: int, total: int, seconds: float) -> None:
        prefix = f"[{index}/{total}]"
        verb = {"create": "creating", "update": "updating", "delete": "destroying", "replace": "replacing"}[change.action]
        if event == "start":
            click.echo(redact.redact(f"{prefix} {change.address}: {verb}..."), nl=False)
        elif event == "done":
            out(f" done ({seconds:.1f}s)")
            if change.address == "cluster.init":
                _keys_warning(change)
        else:
            out(" FAILED")


def _keys_warning(change: Change) -> None:
    keys_file = change.resource.desired.get("keys_file")
    banner = "!" * 72
    out(banner, err=True)
    out(f"WARNING: the unseal keys and the root token were written to {keys_file}", err=True)
    out("(mode 0600). This is for demos only, like the tutorial's cluster-keys.json:", err=True)
    out("anyone who reads that file owns this Vault. Never commit it.", err=True)
    out(banner, err=True)


@click.command()
@SPEC_ARGUMENT
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@target_option
@safety_options
@address_option
@debug_option
@handle_errors
def apply(spec_file: str, auto_approve: bool, targets, allow_destroy: bool, force: bool, address,
          debug: bool) -> None:
    """Make Vault match SPEC."""
    options = PlanOptions(targets=tuple(targets), allow_destroy=allow_destroy, force=force)
    _, ctx, the_plan = load_and_plan(spec_file, address, options)
    out(render_plan(the_plan, ctx.api.address, colour()))
    if the_plan.deferred:
        # Start and unseal the cluster first; its configuration can only be
        # read (and so planned) once it is up.
        out()
        confirm(auto_approve, "Do you want to perform these actions?")
        apply_with_report(ctx, the_plan)
        ctx.vault_empty = False
        ctx.forget("sys/mounts")
        ctx.forget("sys/auth")
        the_plan = make_plan(ctx, options)
        out()
        out(render_plan(the_plan, ctx.api.address, colour()))
    with apply_lock(ctx):
        if the_plan.changes:
            out()
            confirm(auto_approve, "Do you want to perform these actions?")
            apply_with_report(ctx, the_plan)
        else:
            apply_plan(ctx, the_plan)  # records unchanged objects as managed; writes nothing else


def _few(addresses, limit: int = 8) -> str:
    shown = ", ".join(addresses[:limit])
    return shown + (f" and {len(addresses) - limit} more" if len(addresses) > limit else "")


def apply_with_report(ctx: Context, the_plan: Plan) -> None:
    result_holder = {}

    def progress(event, change, index, total, seconds):
        printer(event, change, index, total, seconds)
        result_holder.setdefault("done", [])
        if event == "done":
            result_holder["done"].append(change)

    printer = ProgressPrinter()
    try:
        apply_plan(ctx, the_plan, progress)
    except VaultformError:
        done = [c.address for c in result_holder.get("done", [])]
        rest = [c.address for c in the_plan.changes if c.address not in done]
        out(f"Done before the failure: {_few(done) or 'nothing'}.", err=True)
        out(f"Not done: {_few(rest) or 'nothing'}. Fix the cause and run apply again; it converges.", err=True)
        raise
    counts = {"create": 0, "update": 0, "delete": 0, "replace": 0}
    for change in result_holder.get("done", []):
        counts[change.action] += 1
    out(f"Apply complete! Resources: {counts['create'] + counts['replace']} added, {counts['update']} changed, "
        f"{counts['delete'] + counts['replace']} destroyed.")


COMMAND = apply
