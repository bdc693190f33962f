"""vaultform status SPEC: one line per node of the cluster, with its process and log.

A rejected token exits 1 (what it could not read is said, not shown as `?`);
`--watch` redraws every --interval seconds until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import List, Optional

import click
import requests

from vaultform.cluster.local import NodeStatus
from vaultform.commands.common import SPEC_ARGUMENT, address_option, build_context, debug_option, handle_errors, out
from vaultform.connection import choose_another, http_request
from vaultform.errors import EXIT_ERROR, VaultformError
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


def _process_fields(ctx, name: str) -> dict:
    """The node's PID (local provider: its process on this machine) and log file."""
    node = next((n for n in (ctx.cluster.nodes if ctx.cluster is not None else []) if n.name == name), None)
    pid = node.pid() if node is not None and callable(getattr(node, "pid", None)) else None
    log = getattr(node, "log_path", None)
    return {"pid": pid, "log": str(log) if log is not None else None}


def node_rows(ctx, token: Optional[str] = None, token_rejected: bool = False) -> List[dict]:
    if ctx.cluster is None:
        statuses = [_external_status(ctx.api.address)]
    else:
        statuses = ctx.cluster.statuses()
    voters = None if token_rejected else _voters(ctx, token)
    rows = []
    for st in statuses:
        if voters is not None and st.reachable and st.sealed is False:
            voter = bool((voters.get(st.name) or {}).get("voter"))
        elif ctx.cluster is not None and len(ctx.cluster.nodes) == 1 and st.reachable and st.sealed is False:
            voter = True  # a single raft node is its own voter
        else:
            voter = None
        rows.append({"name": st.name, "address": st.address, "reachable": st.reachable,
                     "initialized": st.initialized, "sealed": st.sealed, "active": st.active, "voter": voter,
                     **_process_fields(ctx, st.name)})
    return rows


def _word(value, yes: str, no: str) -> str:
    return "?" if value is None else (yes if value else no)


def _shown_path(path: Optional[str]) -> str:
    """A log file as a person would type it: relative to here when it is below here."""
    if not path:
        return "-"
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    except ValueError:  # another drive (Windows)
        return path


def _voter_word(row: dict, token_state: str) -> str:
    if row["voter"] is not None:
        return "voter" if row["voter"] else "non-voter"
    if not row["reachable"] or row["sealed"] is not False:
        return "-"
    # Raft membership is read with a token: say why it is not known.
    return {"rejected": "voter? (token rejected)", "none": "voter? (no token)"}.get(token_state, "?")


def snapshot(ctx) -> "tuple[List[dict], dict]":
    """Every node's row and the token's, read now."""
    token, source = _token(ctx)
    rows = node_rows(ctx, token)
    token_info = token_row(ctx, rows, token, source)
    if token_info["state"] == "rejected":
        for row in rows:  # what a rejected token read is not known, not "?"
            if ctx.cluster is not None and len(ctx.cluster.nodes) > 1:
                row["voter"] = None
    return rows, token_info


def render_text(rows: List[dict], token_info: dict) -> List[str]:
    state = token_info["state"]
    table = []
    for row in rows:
        if not row["reachable"]:
            cells = [row["name"], row["address"], "unreachable", "", "", "", ""]
        else:
            role = "-" if row["active"] is None else ("active" if row["active"] else "standby")
            cells = [row["name"], row["address"], "reachable",
                     _word(row["initialized"], "initialized", "uninitialized"),
                     _word(row["sealed"], "sealed", "unsealed"), role, _voter_word(row, state)]
        if row["pid"] is not None or row["log"] is not None:
            cells += [f"pid {row['pid'] if row['pid'] is not None else '-'}", f"log {_shown_path(row['log'])}"]
        table.append(cells)
    widths = [max(len(cells[i]) for cells in table if i < len(cells)) for i in range(max(map(len, table)))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip() for cells in table]
    source = token_info["source"]
    if state == "rejected":
        lines.append(f"token: from {source}: REJECTED by Vault; {choose_another(source)}")
    elif state == "valid":
        lines.append(f"token: from {source}: valid")
    elif state == "none":
        lines.append("token: none (set VAULT_TOKEN, or log in so ~/.vault-token exists)")
    return lines


def _show(rows: List[dict], token_info: dict, fmt: str, watching: bool) -> None:
    if fmt == "json":
        document = {"nodes": rows, "token": token_info}
        # Watching prints one document per line (JSON Lines), so a reader can follow.
        out(json.dumps(document) if watching else json.dumps(document, indent=2))
        return
    lines = render_text(rows, token_info)
    if watching and sys.stdout.isatty():
        click.clear()
        lines = [f"vaultform status, every {_interval:g}s (Ctrl-C to stop)  {time.strftime('%H:%M:%S')}", ""] + lines
    elif watching:
        lines = [f"-- {time.strftime('%Y-%m-%d %H:%M:%S')}"] + lines
    for line in lines:
        out(line)


_interval = 2.0


@click.command()
@SPEC_ARGUMENT
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--watch", is_flag=True, help="Refresh until interrupted (Ctrl-C).")
@click.option("--interval", type=click.FloatRange(min=0.2), default=2.0, show_default=True, metavar="SECONDS",
              help="Seconds between refreshes with --watch.")
@address_option
@debug_option
@handle_errors
def status(spec_file: str, fmt: str, watch: bool, interval: float, address, debug: bool) -> None:
    """Show each node: reachable, initialised, sealed, active or standby, raft voter, PID and log."""
    global _interval
    _interval = interval
    ctx = build_context(load_spec(spec_file), address)
    if not watch:
        rows, token_info = snapshot(ctx)
        _show(rows, token_info, fmt, watching=False)
        if token_info["state"] == "rejected":
            sys.exit(EXIT_ERROR)  # a rejected token is a problem to fix, not a status to read past
        return
    try:
        while True:
            ctx.api.retarget(ctx.cluster.address if ctx.cluster is not None else ctx.api.address)
            _show(*snapshot(ctx), fmt, watching=True)
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return  # how a watch ends: not an error


COMMAND = status
