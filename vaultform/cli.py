"""The command line. All printing and every exit code are decided here."""

from __future__ import annotations

import functools
import sys
import time
import traceback
from typing import Optional, Sequence

import click

from vaultform import __version__, redact
from vaultform.cluster.local import LocalCluster
from vaultform.connection import VaultAPI, env_first, resolve_address
from vaultform.context import Context
from vaultform.errors import Refused, SpecError, SpecErrors, VaultformError
from vaultform.executor import apply_plan
from vaultform.model import Change, Plan
from vaultform.planner import make_destroy_plan, make_plan
from vaultform.render.text import render_plan, summary_line
from vaultform.spec import Spec, load_spec

EXIT_ERROR = 1
EXIT_CHANGES = 2


def out(text: str = "", err: bool = False) -> None:
    if err:
        sys.stdout.flush()  # keep stderr lines after the stdout lines they follow
    click.echo(redact.redact(text), err=err)


def _colour() -> bool:
    return sys.stdout.isatty()


def build_context(spec: Spec, address_flag: Optional[str]) -> Context:
    cluster = LocalCluster(spec) if spec.cluster else None
    vault = spec.section("vault")
    address = resolve_address(address_flag, vault.get("address"), cluster.address if cluster else None)
    if cluster is not None and address.rstrip("/") not in {node.address for node in cluster.nodes}:
        # The spec starts and initialises its own cluster; configuring some
        # other Vault (an exported VAULT_ADDR) with it would be a silent mix-up.
        given = ("--address" if address_flag else
                 "VAULT_ADDR" if env_first("VAULT_ADDR") else "BAO_ADDR" if env_first("BAO_ADDR") else "vault.address")
        where = spec.loc("vault", "address") if given == "vault.address" else spec.key_loc("cluster")
        raise SpecError(f"the spec runs a local cluster at {cluster.address}, but {given} points at {address}: "
                        f"unset {given} or make it {cluster.address}", location=where)
    if not address:
        raise SpecError("no Vault address: pass --address, set VAULT_ADDR, or set vault.address in the spec",
                        location=spec.loc())
    namespace = env_first("VAULT_NAMESPACE", "BAO_NAMESPACE") or vault.get("namespace")
    return Context(spec, VaultAPI(address, namespace=namespace), cluster)


def handle_errors(fn):
    """One place turns errors into one-line messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        debug = kwargs.get("debug", False)
        try:
            return fn(*args, **kwargs)
        except SpecErrors as exc:
            for error in exc.errors:
                out(f"Error: {error}", err=True)
            if debug:
                out(traceback.format_exc(), err=True)
            sys.exit(EXIT_ERROR)
        except VaultformError as exc:
            out(f"Error: {exc}", err=True)
            if debug:
                out(traceback.format_exc(), err=True)
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            out("Interrupted.", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug: still one line, never a secret
            out(f"Error: internal error: {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
            if debug:
                out(traceback.format_exc(), err=True)
            sys.exit(EXIT_ERROR)

    return wrapper


def common(fn):
    fn = click.option("--debug", is_flag=True, help="Show tracebacks for errors.")(fn)
    return fn


def connection_options(fn):
    fn = click.option("--address", metavar="URL",
                      help="Vault address; overrides VAULT_ADDR/BAO_ADDR and the spec's vault.address.")(fn)
    return fn


def print_warnings(spec: Spec) -> None:
    for warning in spec.warnings:
        out(f"Warning: {warning}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vaultform")
def main_group() -> None:
    """Plan and apply a whole Vault / OpenBao setup from one YAML spec."""


@main_group.command()
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False))
@common
@handle_errors
def validate(spec_file: str, debug: bool) -> None:
    """Check SPEC offline: YAML, schema, policies and value sources."""
    spec = load_spec(spec_file)
    print_warnings(spec)
    counts = {s: len(spec.section(s)) for s in ("secrets_engines", "auth", "policies", "secrets")}
    described = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items())
    out(f"{spec_file} is valid ({described}).")


def _plan(spec_file: str, address: Optional[str], targets: Sequence[str]):
    spec = load_spec(spec_file)
    print_warnings(spec)
    ctx = build_context(spec, address)
    plan = make_plan(ctx, targets)
    return spec, ctx, plan


@main_group.command()
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when there are no changes, 2 when there are.")
@click.option("--target", "targets", multiple=True, metavar="ADDR",
              help="Limit the plan to ADDR (glob allowed) and what it depends on. Repeatable.")
@connection_options
@common
@handle_errors
def plan(spec_file: str, detailed_exitcode: bool, targets, address, debug: bool) -> None:
    """Show what apply would change in Vault."""
    _, ctx, the_plan = _plan(spec_file, address, targets)
    out(render_plan(the_plan, ctx.api.address, _colour()))
    if detailed_exitcode and not the_plan.empty:
        sys.exit(EXIT_CHANGES)


def confirm(auto_approve: bool, question: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise Refused("no terminal to confirm on: review the plan and pass --auto-approve to apply it")
    answer = click.prompt(f"{question} Only 'yes' will be accepted", default="", show_default=False)
    if answer.strip() != "yes":
        raise Refused("apply cancelled")


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


@main_group.command()
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--target", "targets", multiple=True, metavar="ADDR",
              help="Limit the apply to ADDR (glob allowed) and what it depends on. Repeatable.")
@connection_options
@common
@handle_errors
def apply(spec_file: str, auto_approve: bool, targets, address, debug: bool) -> None:
    """Make Vault match SPEC."""
    _, ctx, the_plan = _plan(spec_file, address, targets)
    out(render_plan(the_plan, ctx.api.address, _colour()))
    if the_plan.changes:
        out()
        confirm(auto_approve, "Do you want to perform these actions?")
        _apply_with_report(ctx, the_plan)
    elif not the_plan.deferred:
        apply_plan(ctx, the_plan)  # records unchanged objects as managed; writes nothing else
    if the_plan.deferred:
        # The cluster is up now: plan its configuration and apply that too.
        ctx.vault_empty = False
        ctx.forget("sys/mounts")
        ctx.forget("sys/auth")
        config_plan = make_plan(ctx, targets)
        out()
        out(render_plan(config_plan, ctx.api.address, _colour()))
        if config_plan.changes:
            out()
            confirm(auto_approve, "Do you want to perform these actions?")
            _apply_with_report(ctx, config_plan)
        else:
            apply_plan(ctx, config_plan)


def _few(addresses, limit: int = 8) -> str:
    shown = ", ".join(addresses[:limit])
    return shown + (f" and {len(addresses) - limit} more" if len(addresses) > limit else "")


def _apply_with_report(ctx: Context, the_plan: Plan) -> None:
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


@main_group.command()
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--auto-approve", is_flag=True, help="Destroy without asking for confirmation.")
@connection_options
@common
@handle_errors
def destroy(spec_file: str, auto_approve: bool, address, debug: bool) -> None:
    """Remove every object SPEC manages (and stop and delete a local cluster)."""
    spec = load_spec(spec_file)
    ctx = build_context(spec, address)
    the_plan = make_destroy_plan(ctx)
    out(render_plan(the_plan, ctx.api.address, _colour()))
    if the_plan.changes:
        out()
        confirm(auto_approve, "Do you really want to destroy all these objects?")
        _apply_with_report(ctx, the_plan)


def main(argv: Optional[Sequence[str]] = None) -> None:
    try:
        main_group.main(args=argv, prog_name="vaultform", standalone_mode=False)
    except click.exceptions.Abort:
        out("Aborted.", err=True)
        sys.exit(EXIT_ERROR)
    except click.exceptions.ClickException as exc:
        # Usage errors exit 1 like every other error: 2 means "changes" to --detailed-exitcode.
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            out(ctx.get_help(), err=True)  # bare `vaultform`: the help, not an "Error: Usage: ..." blob
            sys.exit(EXIT_ERROR)
        hint = f" (see '{ctx.command_path} --help')" if isinstance(exc, click.UsageError) and ctx is not None else ""
        out(f"Error: {exc.format_message()}{hint}", err=True)
        sys.exit(EXIT_ERROR)
    except SystemExit:
        raise
