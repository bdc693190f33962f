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

import heapq
import queue
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from vaultform import concurrency
from vaultform.concurrency import AdaptiveLimit
from vaultform.context import Context
from vaultform.errors import ApplyError, VaultConnectionError, VaultformError
from vaultform.model import CREATE, DELETE, FOLLOW_UP, REPLACE, UPDATE, Change, Plan
from vaultform.planner import CLUSTER_RANK_LIMIT

Progress = Callable[[str, Change, int, int, float], None]

# Seconds of work a SIGKILL may leave unrecorded. Little rides on it: the
# next plan finds objects written but not recorded identical to the spec and
# records them, and drops entries of deleted objects it finds gone; saving
# rewrites every shard touched, so saving often would cost more writes than
# the changes themselves on a large apply.
RECORD_SAVE_INTERVAL = 30.0
APPLY_WORKERS = concurrency.MOST   # concurrent changes at most; how many, the server's throughput decides


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

    def in_plan_order(self, plan: Plan) -> None:
        position = {id(c): i for i, c in enumerate(plan.changes)}
        for name in ("done", "not_done", "skipped"):
            getattr(self, name).sort(key=lambda c: position.get(id(c), 0))
        self.failures.sort(key=lambda f: position.get(id(f[0]), 0))
        if self.failures:
            self.failed, self.error = self.failures[0]

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


class _Run:
    """One apply: changes start on a bounded pool as soon as what they need
    has succeeded, lowest plan position first. Cluster steps, and
    configuration changes until one has succeeded (the first takes the token
    and, on a cluster this run set up, the lock), run on the calling thread,
    alone. Every deletion finishes before any creation or update starts (a
    name is free before it is taken again). Scheduling is by counters, so its
    cost grows with the number of changes, not with its square."""

    def __init__(self, ctx: Context, plan: Plan, progress: Optional[Progress], workers: int):
        self.ctx, self.plan, self.progress, self.workers = ctx, plan, progress, workers
        self.limit = AdaptiveLimit(start=min(concurrency.START, workers), most=workers)
        self.result = ApplyResult()
        self.needs = blockers(plan)
        self.state: Dict[int, str] = {}   # index -> "ok" | "failed" | "skipped"
        self.finished = 0
        self.stopped = False
        self.last_save = time.monotonic()
        self.prepared = False
        changes = plan.changes
        self.waiting: Dict[int, int] = {}
        self.dependents: Dict[int, List[int]] = {}
        self.deletes_left = sum(1 for c in changes if c.action == DELETE and not _is_cluster(c))
        self.after_deletes: List[int] = []
        self.ready: List[int] = []
        for i, change in enumerate(changes):
            count = 0
            for j in self.needs[i]:
                self.dependents.setdefault(j, []).append(i)
                count += 1
            if self.deletes_left and change.action != DELETE and not _is_cluster(change):
                self.after_deletes.append(i)
                count += 1
            self.waiting[i] = count
            if count == 0:
                heapq.heappush(self.ready, i)

    def report(self, event: str, index: int, seconds: float) -> None:
        if self.progress:
            self.progress(event, self.plan.changes[index], self.finished, len(self.plan.changes), seconds)

    def blocked(self, index: int) -> bool:
        return any(self.state.get(j) != "ok" for j in self.needs[index])

    def _release(self, index: int) -> None:
        self.waiting[index] -= 1
        if self.waiting[index] == 0:
            heapq.heappush(self.ready, index)

    def _finished(self, index: int) -> None:
        for dependent in self.dependents.get(index, ()):
            self._release(dependent)
        change = self.plan.changes[index]
        if change.action == DELETE and not _is_cluster(change):
            self.deletes_left -= 1
            if self.deletes_left == 0:
                for waiter in self.after_deletes:
                    self._release(waiter)

    def run_one(self, index: int) -> Tuple[int, Optional[VaultformError], float]:
        """Carry out one change; a follow-up step the kind asked for (a wait
        for raft voters after an unseal) runs after it and is timed on its own
        (meta["steps"]), so the change's time covers the change only."""
        change = self.plan.changes[index]
        meta = change.resource.meta
        started = time.monotonic()
        try:
            _execute(self.ctx, change)
        except VaultformError as exc:
            return index, exc, time.monotonic() - started
        seconds = time.monotonic() - started
        follow_up = meta.pop(FOLLOW_UP, None)
        if follow_up is not None:
            text, step = follow_up
            step_started = time.monotonic()
            try:
                step()
            except VaultformError as exc:
                return index, exc, seconds + time.monotonic() - step_started
            meta.setdefault("steps", []).append((text, time.monotonic() - step_started))
        return index, None, seconds

    def settle(self, index: int, error: Optional[VaultformError], seconds: float) -> None:
        change = self.plan.changes[index]
        self.finished += 1
        if error is None:
            self.state[index] = "ok"
            self.result.done.append(change)
            _note_in_record(self.ctx, change)
            self.report("done", index, seconds)
            for text, step_seconds in change.resource.meta.get("steps", ()):
                change.resource.meta["step"] = text
                self.report("step", index, step_seconds)
            if time.monotonic() - self.last_save > RECORD_SAVE_INTERVAL and _can_save(self.ctx, self.plan):
                self.ctx.record.save(self.ctx.api, self.ctx.secret_mounts())
                self.last_save = time.monotonic()
        else:
            self.state[index] = "failed"
            message = f"{change.address}: {error.message}"
            self.result.failures.append((change, message))
            if self.result.failed is None:
                self.result.failed, self.result.error = change, message
            self.report("failed", index, seconds)
            if isinstance(error, VaultConnectionError):
                self.stopped = True  # Vault is gone: nothing after this can succeed
        self._finished(index)

    def skip(self, index: int) -> None:
        self.state[index] = "skipped"
        self.finished += 1
        self.result.skipped.append(self.plan.changes[index])
        self.result.not_done.append(self.plan.changes[index])
        self.report("skipped", index, 0.0)
        self._finished(index)

    def go(self) -> None:
        running: Dict[Future, int] = {}
        finished: "queue.SimpleQueue[Future]" = queue.SimpleQueue()
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="vaultform-apply") as pool:
            while (self.ready or running) and not self.stopped:
                while self.ready and not self.stopped:
                    index = self.ready[0]
                    if self.blocked(index):
                        heapq.heappop(self.ready)
                        self.skip(index)
                        continue
                    change = self.plan.changes[index]
                    if _is_cluster(change) or not self.prepared:
                        if running:
                            break  # runs alone: once the pool is empty
                        heapq.heappop(self.ready)
                        self.report("start", index, 0.0)
                        self.settle(*self.run_one(index))
                        if not _is_cluster(change) and self.state[index] == "ok":
                            self.prepared = True
                        continue
                    if len(running) >= self.limit.limit:
                        break
                    heapq.heappop(self.ready)
                    self.report("start", index, 0.0)
                    future = pool.submit(self.run_one, index)
                    running[future] = index
                    future.add_done_callback(finished.put)
                if running:
                    # Finished changes arrive on a queue: concurrent.futures.wait
                    # would set up a waiter on every change in flight, each time.
                    future = finished.get()
                    running.pop(future)
                    self.settle(*future.result())
                    self.limit.finished(self.ctx.api.pushback if self.ctx.api is not None else 0)
            for future in wait(running).done:  # stopped: let what is in flight end
                self.settle(*future.result())
        never = [c for i, c in enumerate(self.plan.changes) if i not in self.state]
        if never and not self.stopped:
            raise AssertionError("apply: changes left that can never start (a dependency cycle)")
        self.result.not_done.extend(never)


def apply_plan(ctx: Context, plan: Plan, progress: Optional[Progress] = None,
               workers: int = APPLY_WORKERS) -> ApplyResult:
    run = _Run(ctx, plan, progress, workers)
    try:
        try:
            run.go()
        finally:
            run.result.in_plan_order(plan)  # reports list changes as the plan does, however they finished
        result = run.result
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
