"""Carry out a plan, in order, stopping at the first failure.

After each change the ownership record is updated in memory; it is written
to Vault once at the end, and also when a change fails, so that what was
done stays managed and a second apply converges.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

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
    error: Optional[str] = None   # why `failed` failed (one line, no secret)

    @property
    def summary(self) -> Dict[str, int]:
        """What was done, counted like Plan.summary (a replace adds and destroys)."""
        count = {a: sum(1 for c in self.done if c.action == a) for a in (CREATE, UPDATE, DELETE, REPLACE)}
        return {"added": count[CREATE] + count[REPLACE], "changed": count[UPDATE],
                "destroyed": count[DELETE] + count[REPLACE]}


def _execute(ctx: Context, change: Change) -> None:
    res, kind = change.resource, change.resource.kind
    if kind.rank >= CLUSTER_RANK_LIMIT:
        ctx.prepare_for_config()
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
                result.error = f"{change.address}: {exc.message}"
                if progress:
                    progress("failed", change, index, total, time.monotonic() - started)
                error = ApplyError(result.error)
                error.result = result  # what was done before the failure, for the caller's report
                raise error from exc
            result.done.append(change)
            _note_in_record(ctx, change)
            if progress:
                progress("done", change, index, total, time.monotonic() - started)
        if not plan.destroy and not plan.deferred:
            _adopt_unchanged(ctx, plan)
    finally:
        # A destroy that stops or uninstalls the cluster took the record's Vault with it.
        removes_cluster = plan.destroy and any(c.resource.kind.rank < CLUSTER_RANK_LIMIT for c in plan.changes)
        if ctx.api is not None and ctx.api.has_token and not removes_cluster:
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
