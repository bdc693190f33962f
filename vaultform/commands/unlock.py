"""vaultform unlock SPEC: break a stale apply lock, explicitly."""

from __future__ import annotations

import sys

import click

from vaultform.commands.common import (
    SPEC_ARGUMENT,
    address_option,
    build_context,
    debug_option,
    handle_errors,
    out,
)
from vaultform.errors import Refused, VaultformError
from vaultform.lock import (
    STALE,
    LockChanged,
    LockLocation,
    break_lock,
    describe_holder,
    holder_liveness,
    read_lock,
)
from vaultform.loading import load_spec


def _interactive() -> bool:
    return sys.stdin.isatty()  # a function, so tests can stand in for a terminal


def _confirm_break() -> None:
    if not _interactive():
        raise Refused("no terminal to confirm on: pass --force to break the lock")
    answer = click.prompt("Break the lock? Only 'yes' will be accepted", default="", show_default=False)
    if answer.strip() != "yes":
        raise Refused("unlock cancelled; the lock is still held")


@click.command()
@SPEC_ARGUMENT
@click.option("--force", is_flag=True, help="Break the lock without asking for confirmation.")
@address_option
@debug_option
@handle_errors
def unlock(spec_file: str, force: bool, address, debug: bool) -> None:
    """Break the apply lock on SPEC's Vault, left behind by a run that died."""
    ctx = build_context(load_spec(spec_file), address)
    ctx.follow_active_node()  # a local cluster's lock is wherever its leader is now
    ctx.ensure_token()
    location = LockLocation.for_record(ctx.spec.record_location)
    seen = read_lock(ctx.api, location)
    where = f"Vault at {ctx.api.address} ({location})"
    if not seen.held:
        out(f"No apply lock is held on {where}.")
        return
    out(f"The apply lock on {where} is held by {describe_holder(seen.content)}.")
    liveness = holder_liveness(seen.content)
    if liveness:
        out(f"{liveness[0].upper()}{liveness[1:]}.")
    if liveness != STALE:
        out("Breaking it lets another apply start; if that run is still changing Vault, the two may interleave.")
    if not force:
        _confirm_break()
    try:
        break_lock(ctx.api, seen)
    except LockChanged:
        raise VaultformError(f"the apply lock {location} changed while you looked; nothing was broken: "
                             f"run vaultform unlock again to see who holds it now") from None
    out("Apply lock broken.")


COMMAND = unlock
