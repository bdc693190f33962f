"""What every resource kind provides, and the diffing they share.

A kind turns its part of the spec into Resources with *normalised* desired
fields (the same form `read` returns), so the shared diff is plain equality
over the fields the spec declares plus the kind's defaults.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple

from vaultform.model import ABSENT, FieldChange, Resource
from vaultform.planner_rules import Rule

PREVENT_DESTROY = "prevent_destroy"  # a field only the ownership record holds


@dataclass(frozen=True)
class KindDoc:
    """A kind's row in docs/spec.md's reference (assembled by vaultform.docgen)."""

    where: str    # where the spec declares one, e.g. "policies.<name>"
    api: str      # the Vault API path it lives at, e.g. "sys/policies/acl/<name>"
    summary: str  # one line: what it is and anything surprising about it
    address: str = ""  # its address form, when not "<kind name>.<id>"


class Kind:
    name: str = ""                    # address prefix, e.g. "policy"
    rank: int = 50                    # apply order; deletions run in reverse
    recorded: bool = True             # listed in the ownership record
    prune_key: Optional[str] = None   # key under `prune:` that opts into deleting unmanaged objects
    counted_as: Tuple[str, ...] = ()  # (one, many) objects of its section, for counts: ("policy", "policies")
    defaults: Dict[str, Any] = {}     # what Vault reports for a field nobody set
    replace_fields: frozenset = frozenset()  # changing these means delete + create
    # Deleting (or re-creating) one destroys everything stored under it, so
    # plans need --allow-destroy or the spec's consent (see safety.py).
    destroys_contents: bool = False

    # -- what the kind declares about the spec (assembled by schema_build,
    # planner_policy, checks, validate and docgen; nothing else names kinds)
    section: Optional[str] = None         # the top-level spec section this kind owns, if any
    section_schema: Optional[dict] = None  # that section's JSON Schema (usually a $ref to a fragment)
    doc: Optional[KindDoc] = None
    section_keys_are_names = True        # its section's keys end up in Vault URLs (checked by names.py)
    # Whether its section may hold {env}/{file}/{generate} values; where not,
    # `audit: {file: {...}}` (a device named "file") is not a file source.
    takes_value_sources = True
    # Inside another kind's mount (auth.<path>.roles, secrets_engines.<path>.keys):
    # which mount section and type, under which key, and the fragment it takes.
    mount_section: Optional[str] = None
    mount_type: Optional[str] = None
    spec_key: str = ""
    spec_key_schema: Optional[dict] = None
    mount_condition: Optional[dict] = None    # when "type is mount_type" is not the whole test (KV v2)
    misplaced_message: Optional[str] = None   # the error for spec_key under a mount of another type

    def planner_rules(self, spec, wildcards: bool) -> Tuple[List[Rule], List[str]]:
        """What `plan` reads for this kind's objects in the spec: the rules of the
        planner's least-privilege policy, and notes on what it cannot see."""
        return [], []

    def checks(self, spec) -> Tuple[list, list]:
        """Semantic problems and warnings the schema cannot express (offline)."""
        return [], []

    def plan_warnings(self, ctx) -> List[str]:
        """What the plan must say about this kind's spec objects beyond its
        changes (audit devices a server takes only from its configuration)."""
        return []

    def summary(self, spec) -> Optional[str]:
        """`validate`'s count of this kind's objects, e.g. "4 policies"."""
        count = len(spec.section(self.section)) if self.section else 0
        if not count:
            return None
        return counted(count, *self.counted_as) if self.counted_as else f"{count} {self.section.replace('_', ' ')}"

    # -- from the spec -------------------------------------------------
    def resources(self, spec, ctx) -> List[Resource]:
        raise NotImplementedError

    def from_record(self, address: str, entry: dict) -> Optional[Resource]:
        """A resource known only from the ownership record (to delete it).

        Its spec entry is gone, so prevent_destroy comes from the record: a
        protected object stays protected when it is removed from the spec."""
        res = Resource(kind=self, address=address, id=entry["id"], meta=dict(entry.get("meta") or {}),
                       prevent_destroy=bool(entry.get("prevent_destroy")))
        # Which fields the recorded state covers, so `read` returns them all.
        res.meta["state_fields"] = list((entry.get("state") or {}).get("fields") or [])
        return res

    # -- against Vault ---------------------------------------------------
    def read(self, ctx, res: Resource) -> Optional[Dict[str, Any]]:
        raise NotImplementedError

    def listed_as(self, ctx, res: Resource) -> Optional[Tuple[str, str]]:
        """(a directory to LIST, the key `res` has there) when a listing
        without that key proves `res` absent, so the planner need not read
        it: one LIST instead of a read per object not yet in Vault. None
        when no listing tells (the default)."""
        return None

    def diff(self, ctx, res: Resource, live: Dict[str, Any]) -> List[FieldChange]:
        return compare_fields(res, live, self.defaults, self.replace_fields)

    def create(self, ctx, res: Resource) -> None:
        raise NotImplementedError

    def update(self, ctx, res: Resource, live: Dict[str, Any], changes: List[FieldChange]) -> None:
        self.create(ctx, res)

    def delete(self, ctx, res: Resource) -> None:
        raise NotImplementedError

    def discover(self, ctx) -> List[Resource]:
        """Objects of this kind that exist in Vault (for pruning); built-ins excluded."""
        return []

    def pruned(self, ctx) -> bool:
        """Whether the spec's `prune:` opts this kind in: what exists in Vault
        but neither the spec nor the record names is deleted."""
        return bool(self.prune_key) and bool(ctx.spec.prune(self.prune_key))

    def prune_candidates(self, ctx) -> List[Resource]:
        """What pruning would delete, before the planner leaves out what the
        spec or the record names (a namespace answers for what it holds)."""
        return self.discover(ctx) if self.pruned(ctx) and not ctx.vault_empty else []

    def unmanaged(self, ctx, known: set) -> Dict[str, List[str]]:
        """kind name -> addresses of objects in Vault that neither the spec nor
        the record (`known`) names and no `prune:` setting deletes: what plans
        call unmanaged (a namespace answers for what it holds)."""
        if not self.prune_key or self.pruned(ctx):
            return {}
        addresses = sorted(r.address for r in self.discover(ctx) if r.address not in known)
        return {self.name: addresses} if addresses else {}

    def change_reason(self, change) -> str:
        return change.reason

    def destroy_notes(self, ctx, res: Resource) -> List[str]:
        return []

    def record_entry(self, ctx, res: Resource) -> dict:
        entry = {"kind": self.name, "id": res.id, "meta": res.meta.get("record", {})}
        if res.prevent_destroy:
            entry["prevent_destroy"] = True  # absent when false: older records read the same
        state = self.applied_state(res)
        if state:
            entry["state"] = {"fields": sorted(state), "fingerprint": state_fingerprint(state)}
        return entry

    # -- was it changed by hand since it was applied? ----------------------
    def applied_state(self, res: Resource) -> Dict[str, Any]:
        """The fields whose applied values the record fingerprints: what the
        spec set, minus anything sensitive (a value from a value source never
        reaches the record, not even hashed without a key)."""
        return {name: value for name, value in (res.desired or {}).items()
                if not res.is_sensitive(name) and name != PREVENT_DESTROY}

    def still_as_recorded(self, ctx, res: Resource, live: Dict[str, Any], entry: dict) -> bool:
        """Whether a recorded object removed from the spec still looks as
        vaultform left it. One deleted and made again by hand, or changed by
        hand, is someone else's now: it is left alone, never deleted.
        An entry from before state fingerprints is trusted."""
        state = entry.get("state")
        if not state or not state.get("fields"):
            return True
        seen = {name: live.get(name, self.defaults.get(name, None)) for name in state["fields"]}
        return state_fingerprint(seen) == state.get("fingerprint")


def counted(count: int, one: str, many: str) -> str:
    """"1 policy", "2 policies"."""
    return f"{count} {one if count == 1 else many}"


def state_fingerprint(fields: Dict[str, Any]) -> str:
    """A digest of non-sensitive applied fields (no key needed: nothing secret
    goes in, and a planner token that cannot read the key can still compare)."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def prevent_destroy_change(ctx, res: Resource) -> List[FieldChange]:
    """A field change when the spec's prevent_destroy differs from the one recorded.

    Nothing in Vault holds the flag, so without this a flag set (or cleared)
    on an unchanged object would never reach the record, and removing the
    object from the spec later would be judged by the stale value. The change
    is applied by rewriting the record entry only."""
    entry = ctx.record.objects.get(res.address)
    if entry is None or res.desired is None:
        return []  # not recorded yet: the first apply records the spec's value
    recorded = bool(entry.get("prevent_destroy"))
    if recorded == res.prevent_destroy:
        return []
    return [FieldChange(PREVENT_DESTROY, recorded, res.prevent_destroy)]


def record_only(fields: List[FieldChange]) -> bool:
    """True when an update changes nothing in Vault, only the ownership record."""
    return bool(fields) and all(f.name == PREVENT_DESTROY for f in fields)


def compare_fields(res: Resource, live: Dict[str, Any], defaults: Dict[str, Any],
                   replace_fields: Iterable[str] = ()) -> List[FieldChange]:
    changes = []
    for name, want in (res.desired or {}).items():
        have = live.get(name, defaults.get(name, ABSENT))
        if want != have:
            changes.append(FieldChange(name, have, want, sensitive=res.is_sensitive(name),
                                       forces_replace=name in replace_fields))
    return changes
