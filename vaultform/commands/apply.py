"""vaultform apply SPEC|PLANFILE: make Vault match the spec, or apply a saved plan exactly.

The argument is a plan file when its content says so (planfile.load), never
because of its name.
"""

from __future__ import annotations

from typing import Callable, List, Optional

import click

from vaultform import planfile
from vaultform.commands.common import (no_colour_option, address_option, colour, confirm, debug_option, handle_errors, out,
                                       safety_options, target_option)
from vaultform.commands.plan import format_option, load_context
from vaultform.context import Context
from vaultform.errors import Refused, VaultformError
from vaultform.executor import ApplyResult, apply_plan
from vaultform.lock import apply_lock, version_before_plan
from vaultform.model import Change, Plan
from vaultform.planner import PlanOptions, make_plan
from vaultform.render.formats import TEXT, render_applied_as
from vaultform.render.progress import Reporter, progress_mode, progress_option
from vaultform.render.text import render_plan


class ProgressPrinter(Reporter):
    """The run's progress (render/progress.py), and the keys warning right
    after the cluster is initialised."""

    def __call__(self, event: str, change: Change, count: int, total: int, seconds: float) -> None:
        super().__call__(event, change, count, total, seconds)
        if event == "done" and change.address == "cluster.init":
            _keys_warning(change, self.say)


def _keys_warning(change: Change, say) -> None:
    if change.resource.meta.get("kept_keys"):
        return  # the cluster was initialised before; nothing was written now
    keys_file = change.resource.desired.get("keys_file")
    secret = change.resource.desired.get("keys_secret")
    if change.resource.meta.get("custody"):
        # Only ciphertext was stored: a note, not an alarm.
        say(f"The unseal shares, each encrypted to one custodian's PGP key, are in {keys_file or secret}.")
        say("Custodians decrypt theirs and enter it with `vaultform unseal SPEC`.")
        return
    banner = "!" * 72
    say(banner, err=True)
    if secret:  # the helm provider's keys.kubernetes_secret
        say(f"WARNING: the unseal keys and the root token were written to the Kubernetes Secret {secret}.", err=True)
        say("This is for demos only, like the tutorial's cluster-keys.json: anyone who", err=True)
        say("may read Secrets in that namespace owns this Vault.", err=True)
        say(banner, err=True)
        return
    say(f"WARNING: the unseal keys and the root token were written to {keys_file}", err=True)
    say("(mode 0600). This is for demos only, like the tutorial's cluster-keys.json:", err=True)
    say("anyone who reads that file owns this Vault. Never commit it.", err=True)
    say(banner, err=True)


def _few(addresses, limit: int = 8) -> str:
    shown = ", ".join(addresses[:limit])
    return shown + (f" and {len(addresses) - limit} more" if len(addresses) > limit else "")


def apply_with_report(ctx: Context, the_plan: Plan, quiet: bool = False, done_word: str = "Apply") -> ApplyResult:
    """Apply, reporting each change as it goes (unless quiet: JSON and Markdown
    report once, at the end) and, on failure, what was and was not done.

    A failure carries the ApplyResult as `.result`, whatever raised it.
    """
    printer = None if quiet else ProgressPrinter(progress_mode())
    done: List[Change] = []

    def progress(event: str, change: Change, index: int, total: int, seconds: float) -> None:
        if printer is not None:
            printer(event, change, index, total, seconds)
        if event == "done":
            done.append(change)

    try:
        try:
            result = apply_plan(ctx, the_plan, progress)
        finally:
            if printer is not None:
                printer.close()
    except VaultformError as exc:
        result = getattr(exc, "result", None)
        if result is None:  # it failed outside any one change (saving the record, say)
            result = ApplyResult(done=list(done), not_done=[c for c in the_plan.changes if c not in done],
                                 error=exc.message)
            exc.result = result
        if not quiet:
            _report_failure(result)
        raise
    if not quiet:
        s = result.summary
        out(f"{done_word} complete! Resources: {s['added']} added, {s['changed']} changed, "
            f"{s['destroyed']} destroyed.")
    return result


def _report_failure(result: ApplyResult) -> None:
    """Done, failed, skipped and not attempted, each on its own line (stderr)."""
    failed = [c.address for c, _ in result.failures] or ([result.failed.address] if result.failed else [])
    out(f"Done: {_few([c.address for c in result.done]) or 'nothing'}.", err=True)
    if failed:
        out(f"Failed: {_few(failed)}.", err=True)
        for _change, message in result.failures[1:4]:
            out(f"Error: {message}", err=True)
    if result.skipped:
        out(f"Skipped (depend on a failed change): {_few([c.address for c in result.skipped])}.", err=True)
    if result.not_attempted:
        out(f"Not attempted: {_few([c.address for c in result.not_attempted])}.", err=True)
    out("Fix the cause and run apply again; it converges.", err=True)


class Outcome:
    """Everything one apply run did, over its phases (a local cluster is
    brought up first, then its configuration is planned and applied)."""

    def __init__(self) -> None:
        self.plans: List[Plan] = []
        self.results: List[ApplyResult] = []

    def run(self, ctx: Context, the_plan: Plan, quiet: bool) -> None:
        self.plans.append(the_plan)
        try:
            self.results.append(apply_with_report(ctx, the_plan, quiet) if the_plan.changes
                                else apply_plan(ctx, the_plan))  # record work only (Plan.adopt, .forget)
        except VaultformError as exc:
            self.results.append(getattr(exc, "result", None) or ApplyResult(error=exc.message))
            raise

    def plan(self) -> Plan:
        last = self.plans[-1]
        return Plan(changes=[c for p in self.plans for c in p.changes],
                    warnings=[w for p in self.plans for w in p.warnings], deferred=last.deferred,
                    options=last.options)

    def result(self) -> ApplyResult:
        merged = ApplyResult()
        for result in self.results:
            merged.done.extend(result.done)
            merged.not_done.extend(result.not_done)
            merged.failures.extend(result.failures)
            merged.skipped.extend(result.skipped)
            if result.error is not None and merged.error is None:
                merged.failed, merged.error = result.failed, result.error
        return merged


def _print_outcome(ctx: Context, outcome: Outcome, output_format: str, failure: Optional[Exception] = None) -> None:
    if output_format != TEXT and outcome.plans:
        out(render_applied_as(output_format, outcome.plan(), ctx.api.address, outcome.result()), nl=False)
        if failure is not None:
            failure.reported_as_json = True  # handle_errors prints no second document


def apply_spec(spec_file: str, auto_approve: bool, output_format: str, options: PlanOptions,
               address: Optional[str]) -> None:
    """Plan, confirm, then apply under the lock.

    The first plan is made without the lock, so an apply with nothing to do
    writes nothing at all, not even the lock. Once the lock is held, the
    plan is made again if anyone took the lock since that plan began: what
    is applied is always planned from what Vault and the record hold now.
    """
    text = output_format == TEXT
    if not text and not auto_approve:
        raise Refused(f"apply --format {output_format} prints one document and cannot ask for confirmation: "
                      "pass --auto-approve, or apply a plan saved with `vaultform plan --out`")
    _, ctx = load_context(spec_file, address)
    seen = version_before_plan(ctx)
    the_plan = make_plan(ctx, options)
    outcome = Outcome()
    try:
        if text:
            out(render_plan(the_plan, ctx.api.address, colour()))
        if the_plan.deferred:
            # Start and unseal the cluster first; its configuration can only be
            # read (and so planned) once it is up.
            if text:
                out()
            confirm(auto_approve, "Do you want to perform these actions?")
            outcome.run(ctx, the_plan, quiet=not text)
            ctx.vault_empty = False
            ctx.forget("sys/mounts")
            ctx.forget("sys/auth")
            seen = version_before_plan(ctx)
            the_plan = make_plan(ctx, options)
            if text:
                out()
                out(render_plan(the_plan, ctx.api.address, colour()))
        if the_plan.changes and text:
            out()
            confirm(auto_approve, "Do you want to perform these actions?")
        # Locked once confirmed: a refused or no-op apply writes nothing, not even the lock.
        with apply_lock(ctx, the_plan) as lock:
            if lock is not None and lock.moved_since(seen):
                the_plan = plan_again_under_lock(ctx, the_plan, lambda: make_plan(ctx, options), auto_approve,
                                                 "Do you want to perform these actions?", text)
            outcome.run(ctx, the_plan, quiet=not text)
    except VaultformError as exc:
        _print_outcome(ctx, outcome, output_format, exc)
        raise
    _print_outcome(ctx, outcome, output_format)


def _shape(plan: Plan) -> List[tuple]:
    return [(c.action, c.address, tuple(f.name for f in c.fields)) for c in plan.changes]


def plan_again_under_lock(ctx: Context, confirmed: Plan, make: Callable[[], Plan], auto_approve: bool,
                          question: str, text: bool = True) -> Plan:
    """Another run held the lock between our plan and our apply (or destroy):
    plan again from what it left. A different plan is shown and confirmed again."""
    fresh = make()  # reads Vault anew (make_plan forgets what the first plan read)
    if _shape(fresh) == _shape(confirmed):
        return fresh
    if text:
        out()
        out("Another apply ran since this plan was made; planned again from what it left:")
        out()
        out(render_plan(fresh, ctx.api.address, colour()))
        if fresh.changes:
            out()
            confirm(auto_approve, question)
    return fresh


def apply_saved(saved: planfile.SavedPlan, output_format: str, address: Optional[str]) -> None:
    text = output_format == TEXT
    _, ctx = load_context(saved.spec_file(), address)
    planfile.check_connected_to(saved, ctx.api.address)
    planfile.verify(saved, ctx)  # an edited plan file is refused before anything is written, even the lock
    outcome = Outcome()
    # Checked under the lock: a plan that was fresh before someone else's
    # apply finished would not be fresh after it.
    with apply_lock(ctx):
        the_plan = make_plan(ctx, saved.options())
        planfile.check_fresh(saved, ctx, the_plan)
        if text:
            out(f"Applying the saved plan {saved.file} (made at {saved.created_at}): nothing has moved since.")
            out()
            out(render_plan(the_plan, ctx.api.address, colour()))
            if the_plan.changes:
                out()
        try:
            outcome.run(ctx, the_plan, quiet=not text)
        except VaultformError as exc:
            _print_outcome(ctx, outcome, output_format, exc)
            raise
    _print_outcome(ctx, outcome, output_format)


def _refuse_plan_options(targets, allow_destroy: bool, force: bool, file: str) -> None:
    given = [name for name, on in (("--target", bool(targets)), ("--allow-destroy", allow_destroy),
                                   ("--force", force)) if on]
    if given:
        raise VaultformError(f"{', '.join(given)} cannot be used with the saved plan {file}: it is applied with "
                             "the options it was planned with; give them to `vaultform plan --out` instead")


@click.command()
@click.argument("spec_file", metavar="SPEC|PLANFILE", type=click.Path(dir_okay=False))
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation (a saved plan never asks).")
@format_option
@target_option
@safety_options
@progress_option
@no_colour_option
@address_option
@debug_option
@handle_errors
def apply(spec_file: str, auto_approve: bool, output_format: str, targets, allow_destroy: bool, force: bool,
          address, debug: bool) -> None:
    """Make Vault match SPEC, or apply exactly a PLANFILE saved by `plan --out`."""
    saved = planfile.load(spec_file)
    if saved is not None:
        _refuse_plan_options(targets, allow_destroy, force, spec_file)
        apply_saved(saved, output_format, address)
        return
    options = PlanOptions(targets=tuple(targets), allow_destroy=allow_destroy, force=force)
    apply_spec(spec_file, auto_approve, output_format, options, address)


COMMAND = apply
