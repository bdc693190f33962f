"""Shell completion: click's own (bash, zsh, fish), plus the addresses a
spec declares for `--target`.

Completion must be quick and must not touch Vault or any secret: the spec
is read and each kind lists its resources with value sources left unread
(values.placeholders) and Vault taken as empty. A spec that cannot be read
completes nothing; completion never prints an error into the user's shell.
"""

from __future__ import annotations

from typing import List

import click


def spec_addresses(spec_file: str) -> List[str]:
    """Every address the spec declares (cluster, mounts, auth, policies, secrets), sorted."""
    from vaultform import values
    from vaultform.cluster import cluster_for
    from vaultform.context import Context
    from vaultform.kinds import registry
    from vaultform.loading import load_spec

    try:
        spec = load_spec(spec_file)
    except Exception:  # noqa: BLE001 - an unreadable spec completes nothing
        return []
    try:
        cluster = cluster_for(spec)
    except Exception:  # noqa: BLE001 - PGP key files missing, say: the rest still completes
        cluster = None
    ctx = Context(spec, None, cluster)
    ctx.vault_empty = True  # never asks Vault: a mount is in the spec or not at all
    found = set()
    with values.placeholders():
        for kind in registry():
            try:
                found.update(res.address for res in kind.resources(spec, ctx))
            except Exception:  # noqa: BLE001 - a kind that needs Vault to list is left out
                continue
    return sorted(found)


def complete_target(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[str]:
    """`--target` values: the spec's addresses starting with what is typed.
    The spec is the command's SPEC argument, wherever it stands on the line."""
    # While `--target` still waits for its value click leaves SPEC unparsed, in ctx.args.
    spec_file = ctx.params.get("spec_file") or next((a for a in ctx.args if not a.startswith("-")), None)
    if not spec_file:
        return []
    return [address for address in spec_addresses(spec_file) if address.startswith(incomplete)]
