"""Compare the spec with live Vault and produce a Plan.

Order of work: the cluster first (a stopped or sealed Vault cannot be read),
then every configuration object read concurrently on a bounded pool, then
objects recorded as managed but gone from the spec, then (opt-in) pruning.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from vaultform.concurrency import adaptive_map
from vaultform.context import Context
from vaultform.errors import SpecError, VaultformError
from vaultform.kinds import registry
from vaultform.kinds.base import Kind, state_fingerprint
from vaultform.model import CREATE, DELETE, MOVED_REASONS, REPLACE, UPDATE, Change, Plan, Resource, moved_side
from vaultform.record import Record
from vaultform.safety import check_destroy, check_plan

CLUSTER_RANK_LIMIT = 10


@dataclass(frozen=True)
class PlanOptions:
    targets: Tuple[str, ...] = ()
    allow_destroy: bool = False   # may disable secrets engines / auth methods
    force: bool = False           # may change more than the bulk threshold of a kind


def cluster_kinds() -> List[Kind]:
    return [k for k in registry() if k.rank < CLUSTER_RANK_LIMIT]


def config_kinds() -> List[Kind]:
    return [k for k in registry() if k.rank >= CLUSTER_RANK_LIMIT]


def _changes_for(ctx: Context, res: Resource, live: Optional[dict]) -> Optional[Change]:
    if live is None:
        # A kind may know better (an audit device missing from a node's configuration only).
        return Change(CREATE, res, reason=res.meta.get("create_reason", "not in Vault"))
    fields = res.kind.diff(ctx, res, live)
    if not fields:
        return None
    action = REPLACE if any(f.forces_replace for f in fields) else UPDATE
    side = _which_side_moved(ctx, res, live, fields)
    change = Change(action, res, fields=fields, live=live, reason=MOVED_REASONS[side])
    change.reason = res.kind.change_reason(change)  # a kind may know better (e.g. from KV metadata)
    # A kind that words it itself says which side moved, if it knows (a KV secret does).
    change.moved = res.meta.get("moved", side if change.reason == MOVED_REASONS[side] else None)
    return change


def _which_side_moved(ctx: Context, res: Resource, live: dict, fields) -> Optional[str]:
    """Which side moved since the last apply (model.SPEC, VAULT, BOTH): the
    spec's fields and Vault's each against the fingerprint of the state
    vaultform last applied (kept in the ownership record). Only where every
    field that differs is fingerprinted, or newly set by the spec: a
    sensitive one never is, so there it cannot tell (None)."""
    entry = ctx.record.objects.get(res.address) if ctx.record is not None else None
    state = (entry or {}).get("state") or {}
    in_spec = res.kind.applied_state(res)
    if not state.get("fields") or any(f.name not in state["fields"] and f.name not in in_spec for f in fields):
        return None
    spec_moved = state_fingerprint(in_spec) != state.get("fingerprint")
    return moved_side(spec_moved, not res.kind.still_as_recorded(ctx, res, live, entry))


def _read_all(ctx: Context, resources: Sequence[Resource]) -> List[Optional[dict]]:
    if ctx.vault_empty:
        return [None] * len(resources)
    if len(resources) <= 1:
        return [r.kind.read(ctx, r) for r in resources]
    absent = _listed_absent(ctx, resources)
    return adaptive_map(lambda r: None if id(r) in absent else r.kind.read(ctx, r), resources,
                        pushback=lambda: ctx.api.pushback, name="vaultform-read")


def _listed_absent(ctx: Context, resources: Sequence[Resource]) -> set:
    """id() of the spec's objects that a listing shows are not in Vault
    (Kind.listed_as): one LIST per directory instead of one read per object,
    for what an apply is about to create. Only where the LIST replaces at
    least two reads; a directory this token may not list (a least-privilege
    planner) or that cannot be listed is read object by object. Names are
    compared ignoring case (some auth methods store them lower-cased): a
    wrong match only costs the read."""
    wanted: Dict[str, List[Tuple[Resource, str]]] = {}
    for res in resources:
        where = res.kind.listed_as(ctx, res) if res.desired is not None else None
        if where is not None:
            wanted.setdefault(where[0], []).append((res, where[1]))
    directories = [d for d, items in wanted.items() if len(items) >= 2]

    def listing(directory: str) -> Optional[set]:
        try:
            return {key.lower() for key in ctx.api.list(directory)}
        except VaultformError:
            return None

    absent = set()
    listings = adaptive_map(listing, directories, pushback=lambda: ctx.api.pushback, name="vaultform-list")
    for directory, present in zip(directories, listings):
        if present is not None:
            absent.update(id(res) for res, key in wanted[directory] if key.lower() not in present)
    return absent


def plan_cluster(ctx: Context, plan: Plan) -> None:
    if ctx.cluster is None:
        return
    resources = [r for k in cluster_kinds() for r in k.resources(ctx.spec, ctx)]
    for res in resources:
        change = _changes_for(ctx, res, res.kind.read(ctx, res))
        if change is not None:
            change.reason = res.kind.change_reason(change)
            plan.changes.append(change)
    for kind in cluster_kinds():
        for res in getattr(kind, "removed", lambda ctx: [])(ctx):
            count = len(ctx.cluster.nodes)
            change = Change(DELETE, res, reason=f"removed from the spec (nodes: {count})")
            change.notes.append("leaves the raft cluster first (remove-peer), then stops; its data is deleted")
            if count < 3:
                change.notes.append(f"{count} node(s) left: no fault tolerance")
            plan.changes.append(change)
    unseals = [c for c in plan.changes if c.resource.kind.name == "cluster.unseal"]
    if unseals:
        # Joining nodes are unsealed one after another but join raft in
        # parallel; only the last unseal waits until they are all voters.
        unseals[-1].resource.meta["wait_for_voters"] = [c.resource.meta["index"] for c in unseals]
    # Reads and writes go to the active node: a standby may serve stale reads.
    has_active = ctx.follow_active_node()
    if any(c.resource.kind.name == "cluster.init" for c in plan.changes):
        ctx.vault_empty = True  # a cluster init is about to create holds nothing
    elif plan.changes and not has_active:
        down = ", ".join(c.address for c in plan.changes)
        plan.deferred = (f"the configuration will be planned once the cluster is up ({down}); "
                         "apply does this and shows that plan too")


def desired_resources(ctx: Context) -> List[Resource]:
    out: List[Resource] = []
    seen: Dict[str, Resource] = {}
    for kind in config_kinds():
        for res in kind.resources(ctx.spec, ctx):
            if res.address in seen:
                raise SpecError(f"{res.address} is declared twice", location=res.location)
            seen[res.address] = res
            out.append(res)
    return out


def matches(address: str, patterns: Iterable[str]) -> bool:
    return any(address == p or fnmatch.fnmatchcase(address, p) for p in patterns)


def _with_dependencies(resources: List[Resource], targets: Sequence[str]) -> set:
    by_address = {r.address: r for r in resources}
    wanted = {r.address for r in resources if matches(r.address, targets)}
    pending = list(wanted)
    while pending:
        res = by_address.get(pending.pop())
        for dep in (res.depends_on if res else []):
            if dep not in wanted:
                wanted.add(dep)
                pending.append(dep)
    return wanted


def order(changes: List[Change]) -> List[Change]:
    """Cluster first, then deletions (dependents before what they live in),
    then creations and updates in dependency order."""
    cluster = [c for c in changes if c.resource.kind.rank < CLUSTER_RANK_LIMIT]
    deletes = sorted((c for c in changes if c.action == DELETE and c not in cluster),
                     key=lambda c: (-c.resource.kind.rank, c.address))
    rest = sorted((c for c in changes if c.action != DELETE and c not in cluster),
                  key=lambda c: (c.resource.kind.rank, c.address))
    # Within a kind, the spec's order where it has one (helm releases: consul before vault).
    return sorted(cluster, key=lambda c: (c.resource.kind.rank, c.resource.meta.get("position", 0),
                                          c.address)) + deletes + rest


def make_plan(ctx: Context, options: PlanOptions = PlanOptions(), show_unmanaged: bool = False) -> Plan:
    """The plan. Objects in Vault that vaultform does not manage are counted
    when there is nothing to change (so "No changes" does not hide them), and
    listed when `show_unmanaged` asks."""
    targets = options.targets
    plan = Plan(options=options)
    ctx.forget_all()
    plan_cluster(ctx, plan)
    if plan.deferred:
        return _finish(plan, targets, [])
    if not ctx.vault_empty:
        ctx.ensure_token()
        ctx.record = Record.load(ctx.api, ctx.spec.record_location)
    recorded = dict(ctx.record.objects)  # as read, before any kind looks at it
    desired = desired_resources(ctx)
    wanted = {r.address for r in desired}
    leftovers = _recorded_leftovers(ctx, wanted) + _prune_candidates(ctx, wanted)
    lives = _read_all(ctx, desired + leftovers)
    replaced = set()
    gone: List[str] = []
    for res, live in zip(desired, lives):
        if live is None and res.address in recorded:
            gone.append(res.address)
        change = _changes_for(ctx, res, live)
        if change is not None:
            plan.changes.append(change)
            if change.action == REPLACE:
                replaced.add(res.address)
        else:
            plan.unchanged.append((res, live))
    _recreate_contents_of_replaced(plan, desired, replaced)
    for res, live in zip(leftovers, lives[len(desired):]):
        entry = recorded.get(res.address)
        if live is None:
            if entry is not None:
                gone.append(res.address)  # deleted by hand: its entry goes, it is never acted on
            continue
        if entry is not None and not res.kind.still_as_recorded(ctx, res, live, entry):
            if res.kind.pruned(ctx):
                # Someone else's now, but the spec prunes what it does not name.
                res.meta["reason"] = (f"not in the spec, and prune.{res.kind.prune_key} is on "
                                      "(it was changed by hand since vaultform applied it)")
            else:
                plan.warnings.append(f"{res.address} was removed from the spec, but it was changed (or deleted "
                                     "and made again) by hand since vaultform applied it: it is left alone, "
                                     "and vaultform stops managing it")
                gone.append(res.address)
                continue
        change = Change(DELETE, res, live=live, reason=res.meta.pop("reason", "removed from the spec"))
        change.notes.extend(res.kind.destroy_notes(ctx, res))
        plan.changes.append(change)
    for change in plan.changes:
        if change.action == REPLACE:
            change.notes.extend(change.resource.kind.destroy_notes(ctx, change.resource))
    # What exists in Vault of what vaultform manages: the bulk-change guard's denominator.
    existing = [r.address for r, live in zip(desired + leftovers, lives) if live is not None]
    plan = _finish(plan, targets, desired)
    _plan_record_work(ctx, plan, recorded, gone, targets)
    for kind in config_kinds():
        plan.warnings.extend(kind.plan_warnings(ctx))
    check_plan(ctx, plan, options, existing)
    if show_unmanaged or (not plan.changes and not targets):
        plan.unmanaged = unmanaged(ctx, wanted | set(recorded))
        plan.prune_keys = {k.name: k.prune_key for k in config_kinds() if k.name in plan.unmanaged}
    return plan


def unmanaged(ctx: Context, known: set) -> Dict[str, List[str]]:
    """kind name -> addresses of objects in Vault that neither the spec nor the
    ownership record names (and that no `prune:` setting deletes). A kind this
    token may not list (a least-privilege planner token) is left out."""
    from vaultform.errors import VaultformError

    found: Dict[str, List[str]] = {}
    if ctx.vault_empty:
        return found
    for kind in config_kinds():
        try:
            for name, addresses in kind.unmanaged(ctx, known).items():
                found[name] = sorted(found.get(name, []) + addresses)
        except VaultformError:
            continue
    return found


def _plan_record_work(ctx: Context, plan: Plan, recorded: Dict[str, dict], gone: List[str],
                      targets: Sequence[str]) -> None:
    """What the record must learn even where Vault needs no change.

    Only objects the plan found identical to the spec are adopted, and with
    --target only the targets; entries of objects found gone are dropped."""
    if ctx.vault_empty:
        return
    changed = {c.address for c in plan.changes}
    for res, _live in plan.unchanged:
        if not res.kind.recorded or (targets and not matches(res.address, targets)):
            continue
        if res.kind.record_entry(ctx, res) != recorded.get(res.address):
            plan.adopt.append(res)
    plan.forget = sorted(a for a in set(gone) if a not in changed and (not targets or matches(a, targets)))
    plan.migrate_record = ctx.record.dirty  # a format-1 record still to move into shards


def _recreate_contents_of_replaced(plan: Plan, desired: List[Resource], replaced: set) -> None:
    """Re-creating a mount destroys what lives in it: whatever the spec keeps
    there must be written again, even if it matched the old mount."""
    if not replaced:
        return
    planned = {c.address: c for c in plan.changes}
    recreated = set(replaced)
    # Until nothing more moves: what is re-created with a mount re-creates what
    # depends on it in turn (a CA generated again in a re-created pki mount
    # signs its intermediate again).
    while True:
        more = set()
        for res in desired:
            with_what = sorted(recreated.intersection(res.depends_on))
            if not with_what or res.address in recreated:
                continue
            reason = f"re-created with {', '.join(with_what)}"
            existing = planned.get(res.address)
            if existing is None:
                planned[res.address] = change = Change(CREATE, res, reason=reason)
                plan.changes.append(change)
                plan.unchanged = [(r, live) for r, live in plan.unchanged if r.address != res.address]
            elif existing.action == UPDATE:
                existing.action, existing.fields, existing.reason = CREATE, [], reason
            more.add(res.address)
        if not more:
            return
        recreated |= more


def _recorded_leftovers(ctx: Context, wanted: set) -> List[Resource]:
    kinds = {k.name: k for k in registry()}
    out = []
    for address, entry in sorted(ctx.record.objects.items()):
        kind = kinds.get(entry.get("kind"))
        if address in wanted or kind is None:
            continue
        res = kind.from_record(address, entry)
        if res is not None:
            out.append(res)
    return out


def _prune_candidates(ctx: Context, wanted: set) -> List[Resource]:
    out = []
    if ctx.vault_empty:
        return out
    for kind in config_kinds():
        for res in kind.prune_candidates(ctx):
            if res.address not in wanted and res.address not in ctx.record.objects:
                res.meta.setdefault("reason", f"not in the spec, and prune.{res.kind.prune_key} is on")
                out.append(res)
    return out


def _finish(plan: Plan, targets: Sequence[str], desired: List[Resource]) -> Plan:
    if targets:
        keep = _with_dependencies([c.resource for c in plan.changes] + desired, targets)
        plan.changes = [c for c in plan.changes if c.address in keep]
    plan.changes = order(plan.changes)
    return plan


def make_destroy_plan(ctx: Context, uninstall_releases: bool = False) -> Plan:
    if uninstall_releases and getattr(ctx.cluster, "provider", None) != "helm":
        raise SpecError("--uninstall-releases is for a spec whose cluster.provider is helm",
                        location=ctx.spec.key_loc("cluster") if ctx.cluster else ctx.spec.loc())
    if ctx.cluster is not None and ctx.cluster.provider == "helm":
        from vaultform.kinds.helm_release import plan_destroy
        return plan_destroy(ctx, uninstall_releases, _destroy_objects)
    plan = Plan(destroy=True)
    if ctx.cluster is not None:
        # Stopping the cluster and deleting its data removes every object in it.
        # Nodes the spec no longer counts are destroyed too (nodes: 3 -> 1, never applied).
        for node in list(ctx.cluster.nodes) + ctx.cluster.removed_nodes():
            st = node.status()
            if st.running or node.has_data:
                res = Resource(kind=next(k for k in cluster_kinds() if k.name == "cluster.node"),
                               address=f"cluster.node[{node.index}]", id=str(node.index),
                               meta={"index": node.index, "node": node})
                change = Change(DELETE, res, reason="destroy")
                change.notes.append(f"stops {node.name} and deletes its data under {node.dir}")
                plan.changes.append(change)
        if plan.changes:
            plan.changes[0].notes.append(f"deletes the keys file {ctx.cluster.keys_file}")
        plan.changes = order(plan.changes)
        return plan
    return _destroy_objects(ctx)


def _destroy_objects(ctx: Context) -> Plan:
    plan = Plan(destroy=True)
    ctx.ensure_token()
    ctx.record = Record.load(ctx.api, ctx.spec.record_location)
    desired = desired_resources(ctx)
    wanted = {r.address for r in desired}
    recorded = dict(ctx.record.objects)
    candidates = desired + _recorded_leftovers(ctx, wanted)
    for res, live in zip(candidates, _read_all(ctx, candidates)):
        entry = recorded.get(res.address)
        if live is None and entry is not None:
            plan.forget.append(res.address)  # gone already: nothing to delete, nothing to keep
            continue
        if live is not None and res.address not in wanted and entry is not None \
                and not res.kind.still_as_recorded(ctx, res, live, entry):
            plan.warnings.append(f"{res.address} was changed (or deleted and made again) by hand since vaultform "
                                 "applied it, and the spec no longer has it: destroy leaves it alone")
            plan.forget.append(res.address)
            continue
        if live is not None and res.kind.recorded and not res.kind.name.endswith("_config"):
            change = Change(DELETE, res, live=live, reason="destroy")
            change.notes.extend(res.kind.destroy_notes(ctx, res))
            plan.changes.append(change)
    check_destroy(plan)
    plan.changes = order(plan.changes)
    return plan
