"""vaultform status SPEC: one line per node of the cluster."""

from __future__ import annotations

import json
from typing import List, Optional

import click
import requests

from vaultform.cluster.local import NodeStatus
from vaultform.commands.common import SPEC_ARGUMENT, address_option, build_context, debug_option, handle_errors, out
from vaultform.connection import choose_another, http_request
from vaultform.errors import VaultformError
from vaultform.loading import load_spec


def _external_status(address: str) -> NodeStatus:
    """A Vault that the spec does not run: what its health endpoint says."""
    st = NodeStatus(name="vault", address=address)
    try:
        response = http_request("GET", f"{address}/v1/sys/health", timeout=5,
                                params={"standbyok": "true", "sealedcode": "200", "uninitcode": "200"})
        data = response.json()
        if not isinstance(data, dict):
            return st
    except (requests.exceptions.RequestException, ValueError):
        return st
    st.reachable = st.running = True
    st.initialized, st.sealed = bool(data.get("initialized")), bool(data.get("sealed"))
    st.active = None if st.sealed or not st.initialized else not data.get("standby", False)
    return st


def _voters(ctx, token: Optional[str]) -> Optional[dict]:
    if ctx.cluster is None or len(ctx.cluster.nodes) < 2:
        return None
    return ctx.cluster.raft_servers(token) if token else None


def _token(ctx) -> "tuple[Optional[str], str]":
    """The token plan and apply would use (connection.resolve_token), or none."""
    try:
        return ctx.token()
    except VaultformError:
        return None, ""


def token_row(ctx, rows: List[dict], token: Optional[str], source: str) -> dict:
    """Whether Vault takes the token the other commands would use: a stale
    ~/.vault-token is otherwise only found by the next plan failing."""
    row = {"source": source or None, "state": "none" if not token else "unknown"}
    serving = next((r for r in rows if r["reachable"] and r["initialized"] and r["sealed"] is False), None)
    if token and serving is not None:
        ctx.api.retarget(serving["address"] if ctx.cluster is None else
                         next(n.address for n in ctx.cluster.nodes if n.name == serving["name"]))
        ctx.api.set_token(token, source)
        row["state"] = ctx.api.token_state()
    return row


def node_rows(ctx, token: Optional[str] = None) -> List[dict]:
    if ctx.cluster is None:
        statuses = [_external_status(ctx.api.address)]
    else:
        statuses = ctx.cluster.statuses()
    voters = _voters(ctx, token)
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
    token, source = _token(ctx)
    rows = node_rows(ctx, token)
    token_info = token_row(ctx, rows, token, source)
    if fmt == "json":
        out(json.dumps({"nodes": rows, "token": token_info}, indent=2))
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
    if token_info["state"] == "rejected":
        out(f"token: from {source}: REJECTED by Vault; {choose_another(source)}")
    elif token_info["state"] == "valid":
        out(f"token: from {source}: valid")
    elif token_info["state"] == "none":
        out("token: none (set VAULT_TOKEN, or log in so ~/.vault-token exists)")


COMMAND = status
