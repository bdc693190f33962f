"""What every command shares: output, errors and exit codes, options, the context.

All printing goes through `out`, which redacts; all errors become one line
and exit 1 in `handle_errors`.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from typing import List, Optional

import click

from vaultform import redact
from vaultform.cluster import cluster_for
from vaultform.connection import (VaultAPI, address_problem, address_source, check_address, env_first,
                                  namespace_problem, resolve_address)
from vaultform.context import Context
from vaultform.errors import (EXIT_ERROR, Refused, SpecError, SpecErrors, VaultConnectionError, VaultformError,
                              one_line)
from vaultform.render.json_plan import FORMAT_VERSION, dump
from vaultform.spec import Spec

EXIT_CHANGES = 2

SPEC_ARGUMENT = click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False))


def out(text: str = "", err: bool = False, nl: bool = True) -> None:
    if err:
        sys.stdout.flush()  # keep stderr lines after the stdout lines they follow
    click.echo(redact.redact(text), err=err, nl=nl)


_no_colour_flag = False


def colour() -> bool:
    """Colour on a terminal only, and never with NO_COLOR (https://no-color.org:
    any non-empty value) or --no-color."""
    if _no_colour_flag or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def no_colour_option(fn):
    def remember(ctx, param, value):
        global _no_colour_flag
        _no_colour_flag = bool(value)  # called on every run, given or not
        return value

    return click.option("--no-color", "no_color", is_flag=True, expose_value=False, callback=remember,
                        is_eager=True, help="Plain text even on a terminal (as does NO_COLOR=1).")(fn)


def build_context(spec: Spec, address_flag: Optional[str]) -> Context:
    cluster = cluster_for(spec)
    vault = spec.section("vault")
    address = resolve_address(address_flag, vault.get("address"), cluster.address if cluster else None)
    given = address_source(address_flag)
    if address:
        # Before the address is printed anywhere: it may hold a password.
        problem = address_problem(address)
        if problem and given == "vault.address":
            raise SpecError(f"the Vault address {problem}", location=spec.loc("vault", "address"),
                            field="vault.address")
        if problem:
            address = check_address(address, given)
    if cluster is not None and not cluster.serves(address):
        # The spec starts and initialises its own cluster; configuring some
        # other Vault (an exported VAULT_ADDR) with it would be a silent mix-up.
        where = spec.loc("vault", "address") if given == "vault.address" else spec.key_loc("cluster")
        raise SpecError(cluster.address_conflict(given, address), location=where)
    if not address:
        raise SpecError("no Vault address: pass --address, set VAULT_ADDR, or set vault.address in the spec",
                        location=spec.loc())
    namespace = env_first("VAULT_NAMESPACE", "BAO_NAMESPACE") or vault.get("namespace")
    if namespace is not None and namespace_problem(namespace):
        source = ("VAULT_NAMESPACE" if env_first("VAULT_NAMESPACE") else
                  "BAO_NAMESPACE" if env_first("BAO_NAMESPACE") else "vault.namespace")
        raise VaultConnectionError(f"the namespace from {source} {namespace_problem(namespace)}")
    return Context(spec, VaultAPI(address, namespace=namespace), cluster)


def refusal_document(errors: List[VaultformError]) -> str:
    """What `plan/apply --format json` print on stdout when they are refused
    before any change: a tool reading stdout gets a JSON object, never nothing
    (schemas/plan-output.schema.json, $defs/refusal)."""
    problems = [{"message": one_line(e.message) if e.location or e.field else one_line(str(e)),
                 "file": e.location.file if e.location else None,
                 "line": e.location.line if e.location else None,
                 "column": e.location.column if e.location else None,
                 "field": one_line(e.field) if e.field else None} for e in errors]
    message = one_line(str(errors[0])) if len(errors) == 1 else f"{len(errors)} problems"
    return dump({"format_version": FORMAT_VERSION, "error": {"message": message, "problems": problems}})


def handle_errors(fn):
    """One place turns errors into one-line messages and exit codes (and,
    for --format json, a refusal document on stdout)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        debug = kwargs.get("debug", False)
        json_output = kwargs.get("output_format") == "json" and fn.__name__ in JSON_REFUSALS

        def fail(errors: List[VaultformError], reported: bool = False) -> None:
            for error in errors:
                out(f"Error: {error}", err=True)
            if debug:
                out(traceback.format_exc(), err=True)
            if json_output and not reported:
                out(refusal_document(errors), nl=False)
            sys.exit(EXIT_ERROR)

        try:
            return fn(*args, **kwargs)
        except SpecErrors as exc:
            fail(list(exc.errors))
        except VaultformError as exc:
            # apply --format json has already printed its document when it got as far as changing anything.
            fail([exc], reported=getattr(exc, "reported_as_json", False))
        except KeyboardInterrupt:
            out("Interrupted.", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug: still one line, never a secret
            fail([VaultformError(f"internal error: {type(exc).__name__}: {one_line(exc)} "
                                 "(run with --debug for details)")])

    return wrapper


# Commands whose --format json prints a plan-output document (validate prints its own report).
JSON_REFUSALS = ("plan", "apply")


def debug_option(fn):
    return click.option("--debug", is_flag=True, help="Show tracebacks for errors.")(fn)


def address_option(fn):
    return click.option("--address", metavar="URL",
                        help="Vault address; overrides VAULT_ADDR/BAO_ADDR and the spec's vault.address.")(fn)


def target_option(fn):
    from vaultform.completion import complete_target

    return click.option("--target", "targets", multiple=True, metavar="ADDR", shell_complete=complete_target,
                        help="Limit to ADDR (glob allowed) and what it depends on. Repeatable.")(fn)


def safety_options(fn):
    fn = click.option("--allow-destroy", is_flag=True,
                      help="Allow disabling secrets engines and auth methods (destroys what they hold).")(fn)
    fn = click.option("--force", is_flag=True,
                      help="Allow updating or deleting more than 30% of the managed objects of a kind.")(fn)
    return fn


def print_warnings(spec: Spec) -> None:
    for warning in spec.warnings:
        if not warning.validate_only:
            out(f"Warning: {warning}", err=True)


def confirm(auto_approve: bool, question: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise Refused("no terminal to confirm on: review the plan and pass --auto-approve to apply it")
    answer = click.prompt(f"{question} Only 'yes' will be accepted", default="", show_default=False)
    if answer.strip() != "yes":
        raise Refused("apply cancelled")


