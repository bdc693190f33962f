"""Carry out a plan, in order, stopping at the first failure.

After each change the ownership record is updated in memory; it is written
to Vault once at the end, and also when a change fails, so that what was
done stays managed and a second apply converges.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional

from vaultform.context import Context
from vaultform.errors import ApplyError, VaultformError
from vaultform.model import CREATE, DELETE, REPLACE, UPDATE, Change, Plan
from vaultform.planner import CLUSTER_RANK_LIMIT, desired_resources

Progress = Callable[[str, Change, int, int, float], None]


@dataclass
class ApplyResult:
    done: List[Change] = field(default_factory=list)
    failed: Optional[Change] = None
    not_done: List[Change] = field(default_factory=list)


def _execute(ctx: Context, change: Change) -> None:
    res, kind = change.resource, change.resource.kind
    if kind.rank >= CLUSTER_RANK_LIMIT:
        ctx.ensure_token()
    if change.action == CREATE:
        kind.create(ctx, res)
    elif change.action == UPDATE:
        kind.update(ctx, res, change.live or {}, change.fields)
    elif change.action == REPLACE:
        kind.delete(ctx, res)
        kind.create(ctx, res)
    elif change.action == DELETE:
        kind.delete(ctx, res)


def apply_plan(ctx: Context, plan: Plan, progress: Optional[Progress] = None) -> ApplyResult:
    result = ApplyResult()
    total = len(plan.changes)
    try:
        for index, change in enumerate(plan.changes, start=1):
            if progress:
                progress("start", change, index, total, 0.0)
            started = time.monotonic()
            try:
                _execute(ctx, change)
            except VaultformError as exc:
                result.failed = change
                result.not_done = plan.changes[index:]
                if progress:
                    progress("failed", change, index, total, time.monotonic() - started)
                raise ApplyError(f"{change.address}: {exc.message}") from exc
            result.done.append(change)
            _note_in_record(ctx, change)
            if progress:
                progress("done", change, index, total, time.monotonic() - started)
        if not plan.destroy and not plan.deferred:
            _adopt_unchanged(ctx, plan)
    finally:
        if ctx.api is not None and ctx.api.has_token and not (plan.destroy and ctx.cluster is not None):
            ctx.record.save(ctx.api, ctx.secret_mounts())
    return result


def _note_in_record(ctx: Context, change: Change) -> None:
    kind = change.resource.kind
    if not kind.recorded:
        return
    if change.action == DELETE:
        ctx.record.remove(change.address)
    else:
        ctx.record.set(change.address, kind.record_entry(ctx, change.resource))


def _adopt_unchanged(ctx: Context, plan: Plan) -> None:
    """Objects in the spec that already matched Vault are managed all the same;
    recording them lets a later removal from the spec delete them."""
    changed = {c.address for c in plan.changes}
    ctx.vault_empty = False
    for res in desired_resources(ctx):
        if res.kind.recorded and res.address not in changed and res.address not in ctx.record.objects:
            ctx.record.set(res.address, res.kind.record_entry(ctx, res))
