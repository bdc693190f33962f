"""Safety rails, judged once the whole plan is known (like octoDNS's
Plan.raise_if_unsafe), before anything is written to Vault.

- prevent_destroy: an object marked so is never deleted or re-created; no
  flag overrides it, only a spec that clears the mark and is applied first.
- Mounts: disabling or re-creating a secrets engine or auth method destroys
  everything stored under it, so it needs --allow-destroy, or the spec's
  consent (`deletable: true` on the mount, or its address under the top-level
  `allow_destroy:` list).
- Bulk changes: updating, replacing or deleting more than 30% of the existing
  managed objects of one kind, once there are at least 10, needs --force.

Each refusal is one line naming the addresses, the reason and what overrides it.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Sequence

from vaultform.errors import SpecErrors, VaultformError
from vaultform.kinds.base import record_only
from vaultform.model import DELETE, REPLACE, UPDATE, Change, Plan

BULK_PERCENT = 30        # octoDNS's update/delete threshold
BULK_MIN_EXISTING = 10   # below this, a few changes are a large share of nothing much
SHOWN = 5                # addresses named in one refusal before "and N more"
DESTRUCTIVE = (DELETE, REPLACE)


class UnsafePlan(SpecErrors):
    """The plan was refused by one or more safety rails; one line each."""

    def __init__(self, refusals: List[VaultformError]):
        super().__init__(refusals)
        self.message = f"the plan was refused by {len(refusals)} safety rail(s)"


def check_plan(ctx, plan: Plan, options, existing: Iterable[str] = ()) -> None:
    """Raise UnsafePlan unless every rail lets `plan` through.

    `existing` holds the addresses of the managed objects found in Vault (the
    bulk guard's denominator: recorded or in the spec, and live)."""
    refusals = protected_objects(plan.changes) + kind_refusals(plan.changes)
    if not options.allow_destroy:
        refusals += mount_destruction(plan.changes, ctx.spec.data.get("allow_destroy") or [])
    if not options.force:
        refusals += bulk_changes(plan.changes, existing)
    if refusals:
        raise UnsafePlan(refusals)


def check_destroy(plan: Plan) -> None:
    """`vaultform destroy` is consent to destroy, but not to override prevent_destroy."""
    refusals = protected_objects(plan.changes, verb="destroy") + kind_refusals(plan.changes)
    if refusals:
        raise UnsafePlan(refusals)


# -- prevent_destroy ---------------------------------------------------------------


def protected_objects(changes: Sequence[Change], verb: Optional[str] = None) -> List[VaultformError]:
    hits = [c for c in changes if c.action in DESTRUCTIVE and c.resource.prevent_destroy]
    # In the spec, the spec's flag counts; removed from it, the recorded one.
    in_spec = [c for c in hits if c.resource.desired is not None]
    recorded = [c for c in hits if c.resource.desired is None]
    refusals = []
    for group in _by_verb(in_spec, verb).values():
        them = _pronoun(group)
        refusals.append(_refusal(
            group, f"refusing to {_verb(group[0], verb)} {_subject(group, 'objects')}: {them['is']} marked "
                   f"prevent_destroy in the spec, which no flag overrides; set prevent_destroy: false "
                   f"on {them['it']} and apply first"))
    for group in _by_verb(recorded, verb).values():
        them = _pronoun(group)
        refusals.append(_refusal(
            group, f"refusing to {_verb(group[0], verb)} {_subject(group, 'objects')} removed from the spec: "
                   f"{them['was']} last applied with prevent_destroy: true, which no flag overrides; "
                   f"put {them['it']} back in the spec with prevent_destroy: false and apply first"))
    return refusals


def kind_refusals(changes: Sequence[Change]) -> List[VaultformError]:
    """What a kind knows Vault would refuse (a transit key whose
    deletion_allowed is false cannot be deleted): refused in the plan rather
    than failing half-way through an apply. No flag overrides it."""
    refusals = []
    for change in changes:
        refusal = getattr(change.resource.kind, "refusal", None)
        message = refusal(change, changes) if refusal else ""
        if message:
            refusals.append(VaultformError(message, location=change.resource.location))
    return refusals


# -- disabling mounts ------------------------------------------------------------


def mount_destruction(changes: Sequence[Change], allowed: Sequence[str]) -> List[VaultformError]:
    risky = [c for c in changes
             if c.action in DESTRUCTIVE and c.resource.kind.destroys_contents
             and not c.resource.prevent_destroy  # refused above, whatever else allows it
             and not c.resource.meta.get("deletable")
             and not any(fnmatch.fnmatchcase(c.address, pattern) for pattern in allowed)]
    removed = [c for c in risky if c.action == DELETE]
    replaced = [c for c in risky if c.action == REPLACE]
    refusals = []
    if len(removed) == 1:
        refusals.append(_refusal(
            removed, f"refusing to {_destroy_verb(removed[0])} {removed[0].address} ({_what_is_lost(removed[0])}): "
                     "pass --allow-destroy or list it under allow_destroy in the spec"))
    elif removed:
        refusals.append(_refusal(
            removed, f"refusing to disable {len(removed)} mounts and everything stored under them "
                     f"({_names(removed)}): pass --allow-destroy or list them under allow_destroy in the spec"))
    if len(replaced) == 1:
        refusals.append(_refusal(
            replaced, f"refusing to replace {replaced[0].address} (re-creating it {_what_is_lost(replaced[0])}): "
                      "pass --allow-destroy or set deletable: true on it in the spec"))
    elif replaced:
        refusals.append(_refusal(
            replaced, f"refusing to replace {len(replaced)} mounts, destroying everything stored under them "
                      f"({_names(replaced)}): pass --allow-destroy or set deletable: true on them in the spec"))
    return refusals


def _what_is_lost(change: Change) -> str:
    """What the plan's note on the mount says goes with it ("destroys 3 secret(s) stored under it")."""
    for note in change.notes:
        if "destroys " in note:
            return note[note.index("destroys "):]
    return "destroys everything stored under it"


# -- bulk changes -----------------------------------------------------------------


def kind_of(address: str) -> str:
    """The kind as users see it: the address up to the first dot (`approle_role`).
    Inside a namespace, the kind there (`namespace.team-a:policy`): its objects
    are counted apart from the root's and from each other's."""
    if address.startswith("namespace.") and ":" in address:  # a namespace's name holds no ":"
        namespace, inner = address.split(":", 1)
        return f"{namespace}:{inner.split('.', 1)[0]}"
    return address.split(".", 1)[0]


def bulk_changes(changes: Sequence[Change], existing: Iterable[str]) -> List[VaultformError]:
    touched: Dict[str, List[Change]] = defaultdict(list)
    for change in changes:
        if (change.action in (UPDATE, REPLACE, DELETE) and change.resource.kind.recorded
                and not (change.action == UPDATE and record_only(change.fields))):
            touched[kind_of(change.address)].append(change)
    totals: Dict[str, set] = defaultdict(set)
    for address in existing:
        totals[kind_of(address)].add(address)
    refusals = []
    for kind, group in sorted(touched.items()):
        total = len(totals[kind] | {c.address for c in group})
        if total >= BULK_MIN_EXISTING and len(group) * 100 > BULK_PERCENT * total:
            share = round(len(group) * 100 / total)
            refusals.append(_refusal(
                group, f"refusing to update or delete {len(group)} of the {total} managed {kind} objects "
                       f"({share}%, more than {BULK_PERCENT}%): {_names(group)}; pass --force to allow "
                       f"a bulk change"))
    return refusals


# -- wording ----------------------------------------------------------------------


def _verb(change: Change, verb: Optional[str]) -> str:
    if verb:
        return verb
    if change.action == REPLACE:
        return "replace"
    return _destroy_verb(change) if change.resource.kind.destroys_contents else "delete"


def _destroy_verb(change: Change) -> str:
    """Mounts are disabled; a kind that is not a mount says its own verb (a transit key is deleted)."""
    return getattr(change.resource.kind, "destroy_verb", "disable")


def _by_verb(changes: Sequence[Change], verb: Optional[str]) -> Dict[str, List[Change]]:
    groups: Dict[str, List[Change]] = {}
    for change in changes:
        groups.setdefault(_verb(change, verb), []).append(change)
    return groups


def _pronoun(changes: Sequence[Change]) -> Dict[str, str]:
    if len(changes) == 1:
        return {"it": "it", "is": "it is", "was": "it was"}
    return {"it": "them", "is": "they are", "was": "they were"}


def _names(changes: Sequence[Change]) -> str:
    addresses = sorted(c.address for c in changes)
    shown = ", ".join(addresses[:SHOWN])
    if len(addresses) > SHOWN:
        shown += f" and {len(addresses) - SHOWN} more"
    return shown


def _subject(changes: Sequence[Change], noun: str) -> str:
    if len(changes) == 1:
        return changes[0].address
    return f"{len(changes)} {noun} ({_names(changes)})"


def _refusal(changes: Sequence[Change], message: str) -> VaultformError:
    # One object in the spec: point at its line too.
    location = changes[0].resource.location if len(changes) == 1 else None
    return VaultformError(message, location=location)
