"""vaultform unseal SPEC: a custodian enters one unseal share.

The share is read from a hidden prompt (or one line of stdin), submitted to
every sealed node, and forgotten: never echoed, logged or stored. Custodians
can run this from different machines at different times; Vault keeps the
progress between them.
"""

from __future__ import annotations

import sys
from typing import List, Tuple

import click

from vaultform import redact
from vaultform.cluster.local import NodeStatus, submit_share
from vaultform.commands.common import SPEC_ARGUMENT, address_option, build_context, debug_option, handle_errors, out
from vaultform.commands.status import _external_status
from vaultform.errors import ClusterError, Refused
from vaultform.loading import load_spec


def read_share() -> str:
    if sys.stdin.isatty():
        share = click.prompt("Unseal share (input is hidden)", hide_input=True, default="", show_default=False)
    else:
        share = sys.stdin.readline()
    share = share.strip()
    if not share:
        raise Refused("no share given")
    redact.register(share)
    return share


class _ExternalNode:
    """A Vault the spec does not run, with the interface submit_share needs."""

    def __init__(self, address: str):
        self.name, self.address = "vault", address


def _targets(ctx) -> List[Tuple[object, NodeStatus]]:
    if ctx.cluster is None:
        node = _ExternalNode(ctx.api.address)
        return [(node, _external_status(node.address))]
    return list(zip(ctx.cluster.nodes, ctx.cluster.statuses()))


def _joined(ctx, sealed):
    """Nodes that can take a share: a node not yet in raft cannot until a
    peer is unsealed; then it is asked to join first."""
    ready = []
    for node, st in sealed:
        if st.initialized:
            ready.append((node, st))
        elif ctx.cluster.active_node() is None:
            out(f"{node.name}: waiting to join the cluster; enter shares for it once a node is unsealed")
        else:
            try:
                ctx.cluster.join(node.index, timeout=15)
            except ClusterError as exc:
                out(f"{node.name}: {exc}", err=True)
                continue
            ready.append((node, node.status()))
    return ready


@click.command()
@SPEC_ARGUMENT
@address_option
@debug_option
@handle_errors
def unseal(spec_file: str, address, debug: bool) -> None:
    """Enter one unseal share (hidden prompt or stdin) into every sealed node."""
    ctx = build_context(load_spec(spec_file), address)
    targets = _targets(ctx)
    sealed = [(node, st) for node, st in targets if st.reachable and st.sealed]
    if not sealed:
        down = [node.name for node, st in targets if not st.reachable]
        out("No sealed node to unseal." + (f" Not reachable: {', '.join(down)}." if down else ""))
        return
    share = read_share()
    failures = []
    if ctx.cluster is not None:
        sealed = _joined(ctx, sealed)
    for node, before in sealed:
        try:
            answer = submit_share(node, share)
        except ClusterError as exc:
            failures.append(str(exc))
            continue
        if answer.get("sealed", True) and answer.get("progress", 0) and answer.get("progress") == before.progress:
            # Vault ignores a share it already has; say so rather than "1/2" again.
            failures.append(f"{node.name} already has this share (still {answer['progress']}/{answer['t']}): "
                            f"the next custodian must enter a different one")
            continue
        if not answer.get("sealed", True):
            out(f"{node.name}: unsealed")
        elif answer.get("progress", 0) == 0:
            # Threshold reached on a node that is joining raft: it unseals by
            # itself once it has caught up; wait for that (bounded).
            out(f"{node.name}: {answer.get('t')}/{answer.get('t')} shares, joining the cluster")
            if ctx.cluster is not None:
                try:
                    ctx.cluster.wait_unsealed(node.index)
                    out(f"{node.name}: unsealed")
                except ClusterError as exc:
                    failures.append(str(exc))
        else:
            out(f"{node.name}: {answer['progress']}/{answer['t']} shares")
    if failures:
        raise ClusterError(failures[0] + (f" (and {len(failures) - 1} more node(s))" if len(failures) > 1 else ""))


COMMAND = unseal
