"""vaultform status SPEC: one line per node of the cluster."""

from __future__ import annotations

import json
from typing import List, Optional

import click
import requests

from vaultform.cluster.local import NodeStatus
from vaultform.commands.common import SPEC_ARGUMENT, address_option, build_context, debug_option, handle_errors, out
from vaultform.connection import resolve_token
from vaultform.errors import VaultformError
from vaultform.spec import load_spec


def _external_status(address: str) -> NodeStatus:
    """A Vault that the spec does not run: what its health endpoint says."""
    st = NodeStatus(name="vault", address=address)
    try:
        response = requests.get(f"{address}/v1/sys/health", timeout=5,
                                params={"standbyok": "true", "sealedcode": "200", "uninitcode": "200"})
        data = response.json()
    except (requests.exceptions.RequestException, ValueError):
        return st
    st.reachable = st.running = True
    st.initialized, st.sealed = bool(data.get("initialized")), bool(data.get("sealed"))
    st.active = None if st.sealed or not st.initialized else not data.get("standby", False)
    return st


def _voters(ctx) -> Optional[dict]:
    if ctx.cluster is None or len(ctx.cluster.nodes) < 2:
        return None
    try:
        token, _ = resolve_token(ctx.cluster.root_token)
    except VaultformError:
        return None
    return ctx.cluster.raft_servers(token) if token else None


def node_rows(ctx) -> List[dict]:
    if ctx.cluster is None:
        statuses = [_external_status(ctx.api.address)]
    else:
        statuses = ctx.cluster.statuses()
    voters = _voters(ctx)
    rows = []
    for st in statuses:
        if voters is not None and st.reachable and st.sealed is False:
            voter = bool((voters.get(st.name) or {}).get("voter"))
        elif ctx.cluster is not None and len(ctx.cluster.nodes) == 1 and st.reachable and st.sealed is False:
            voter = True  # a single raft node is its own voter
        else:
            voter = None
        rows.append({"name": st.name, "address": st.address, "reachable": st.reachable,
                     "initialized": st.initialized, "sealed": st.sealed, "active": st.active, "voter": voter})
    return rows


def _word(value, yes: str, no: str) -> str:
    return "?" if value is None else (yes if value else no)


@click.command()
@SPEC_ARGUMENT
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@address_option
@debug_option
@handle_errors
def status(spec_file: str, fmt: str, address, debug: bool) -> None:
    """Show each node: reachable, initialised, sealed, active or standby, raft voter."""
    ctx = build_context(load_spec(spec_file), address)
    rows = node_rows(ctx)
    if fmt == "json":
        out(json.dumps({"nodes": rows}, indent=2))
        return
    name_width = max(len(r["name"]) for r in rows)
    address_width = max(len(r["address"]) for r in rows)
    for row in rows:
        if not row["reachable"]:
            out(f"{row['name']:<{name_width}}  {row['address']:<{address_width}}  unreachable")
            continue
        role = "-" if row["active"] is None else ("active" if row["active"] else "standby")
        out(f"{row['name']:<{name_width}}  {row['address']:<{address_width}}  reachable  "
            f"{_word(row['initialized'], 'initialized', 'uninitialized'):<13} "
            f"{_word(row['sealed'], 'sealed', 'unsealed'):<8} {role:<7} "
            f"{_word(row['voter'], 'voter', 'non-voter')}")


COMMAND = status
