"""Carry out a plan in order; after a failure, go on with what does not depend on it.

Like Terraform, one failed change does not stop independent ones: a policy
that Vault refuses does not keep an unrelated secret from being written.
What depends on a failed change is skipped (a secret in a mount whose
creation failed, a mount whose contents could not be deleted, any
configuration when the cluster could not be brought up). Losing Vault
itself (connection refused, sealed) stops the run: nothing after it could
succeed.

The ownership record is updated in memory after each change and written
every few seconds and at the end, so a run killed at any point leaves at
most a few seconds of work unrecorded; the next plan finds those objects
identical to the spec and records them (Plan.adopt), or finds deleted ones
gone and drops their entries (Plan.forget).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Set, Tuple

from vaultform.context import Context
from vaultform.errors import ApplyError, VaultConnectionError, VaultformError
from vaultform.model import CREATE, DELETE, REPLACE, UPDATE, Change, Plan
from vaultform.planner import CLUSTER_RANK_LIMIT

Progress = Callable[[str, Change, int, int, float], None]

RECORD_SAVE_INTERVAL = 5.0  # seconds of work a SIGKILL may leave unrecorded


@dataclass
class ApplyResult:
    done: List[Change] = field(default_factory=list)
    failed: Optional[Change] = None          # the first change that failed
    not_done: List[Change] = field(default_factory=list)   # skipped and never attempted
    error: Optional[str] = None              # why `failed` failed (one line, no secret)
    failures: List[Tuple[Change, str]] = field(default_factory=list)
    skipped: List[Change] = field(default_factory=list)    # depend on a failed change

    @property
    def summary(self) -> Dict[str, int]:
        """What was done, counted like Plan.summary (a replace adds and destroys)."""
        count = {a: sum(1 for c in self.done if c.action == a) for a in (CREATE, UPDATE, DELETE, REPLACE)}
        return {"added": count[CREATE] + count[REPLACE], "changed": count[UPDATE],
                "destroyed": count[DELETE] + count[REPLACE]}

    @property
    def not_attempted(self) -> List[Change]:
        skipped = set(map(id, self.skipped))
        return [c for c in self.not_done if id(c) not in skipped]


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


def _is_cluster(change: Change) -> bool:
    return change.resource.kind.rank < CLUSTER_RANK_LIMIT


def _inside(content: Change, container: Change) -> bool:
    """Whether `content` lives in what `container` deletes (a secret in a
    mount, a role in an auth method): identities are paths."""
    outer, inner = container.resource.id, content.resource.id
    return (content.resource.kind.rank > container.resource.kind.rank
            and (inner == outer or inner.startswith(outer + "/")
                 or container.address in content.resource.depends_on))


def blockers(plan: Plan) -> Dict[int, List[int]]:
    """For each change (by position), the earlier changes it needs to have succeeded."""
    position = {c.address: i for i, c in enumerate(plan.changes)}
    cluster = [i for i, c in enumerate(plan.changes) if _is_cluster(c)]
    needs: Dict[int, List[int]] = {}
    for i, change in enumerate(plan.changes):
        wanted: List[int] = []
        # Cluster steps build on each other (release, pods, init, unseal), and
        # nothing is configured in a cluster that could not be brought up.
        wanted.extend(cluster)
        if change.action == DELETE and change.resource.kind.destroys_contents:
            wanted.extend(j for j, other in enumerate(plan.changes[:i])
                          if other.action == DELETE and _inside(other, change))
        elif change.action != DELETE:
            wanted.extend(position[d] for d in change.resource.depends_on
                          if d in position and position[d] < i)
        needs[i] = sorted(set(j for j in wanted if j < i))
    return needs


def apply_plan(ctx: Context, plan: Plan, progress: Optional[Progress] = None) -> ApplyResult:
    result = ApplyResult()
    total = len(plan.changes)
    needs = blockers(plan)
    unsuccessful: Set[int] = set()
    last_save = time.monotonic()
    stopped_at: Optional[int] = None
    try:
        for index, change in enumerate(plan.changes):
            if any(j in unsuccessful for j in needs[index]):
                unsuccessful.add(index)
                result.skipped.append(change)
                result.not_done.append(change)
                if progress:
                    progress("skipped", change, index + 1, total, 0.0)
                continue
            if progress:
                progress("start", change, index + 1, total, 0.0)
            started = time.monotonic()
            try:
                _execute(ctx, change)
            except VaultformError as exc:
                unsuccessful.add(index)
                message = f"{change.address}: {exc.message}"
                result.failures.append((change, message))
                if result.failed is None:
                    result.failed, result.error = change, message
                if progress:
                    progress("failed", change, index + 1, total, time.monotonic() - started)
                if isinstance(exc, VaultConnectionError):
                    stopped_at = index  # Vault is gone: nothing after this can succeed
                    break
                continue
            result.done.append(change)
            _note_in_record(ctx, change)
            if progress:
                progress("done", change, index + 1, total, time.monotonic() - started)
            if time.monotonic() - last_save > RECORD_SAVE_INTERVAL and _can_save(ctx, plan):
                ctx.record.save(ctx.api, ctx.secret_mounts())
                last_save = time.monotonic()
        if stopped_at is not None:
            result.not_done.extend(plan.changes[stopped_at + 1:])
        if not result.failures and not plan.deferred:
            ctx.vault_empty = False
        _settle_record(ctx, plan, result)
    finally:
        if _can_save(ctx, plan) and ctx.record.dirty:
            ctx.record.save(ctx.api, ctx.secret_mounts())
    if result.failures:
        count = len(result.failures)
        text = result.error if count == 1 else f"{count} changes failed; the first: {result.error}"
        error = ApplyError(text)
        error.result = result  # what was and was not done, for the caller's report
        raise error
    return result


def _can_save(ctx: Context, plan: Plan) -> bool:
    # A destroy that stops or uninstalls the cluster took the record's Vault with it.
    removes_cluster = plan.destroy and any(_is_cluster(c) for c in plan.changes)
    return ctx.api is not None and ctx.api.has_token and not removes_cluster


def _note_in_record(ctx: Context, change: Change) -> None:
    kind = change.resource.kind
    if not kind.recorded:
        return
    if change.action == DELETE:
        ctx.record.remove(change.address)
    else:
        ctx.record.set(change.address, kind.record_entry(ctx, change.resource))


def _settle_record(ctx: Context, plan: Plan, result: ApplyResult) -> None:
    """The record work the plan listed: objects found identical to the spec
    are recorded as managed, entries of objects found gone are dropped."""
    failed = {c.address for c, _ in result.failures} | {c.address for c in result.not_done}
    for res in plan.adopt:
        if res.address not in failed:
            ctx.record.set(res.address, res.kind.record_entry(ctx, res))
    for address in plan.forget:
        if address not in failed:
            ctx.record.remove(address)
