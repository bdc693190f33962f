"""What every resource kind provides, and the diffing they share.

A kind turns its part of the spec into Resources with *normalised* desired
fields (the same form `read` returns), so the shared diff is plain equality
over the fields the spec declares plus the kind's defaults.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from vaultform.model import ABSENT, FieldChange, Resource


class Kind:
    name: str = ""                    # address prefix, e.g. "policy"
    rank: int = 50                    # apply order; deletions run in reverse
    recorded: bool = True             # listed in the ownership record
    prune_key: Optional[str] = None   # key under `prune:` that opts into deleting unmanaged objects
    defaults: Dict[str, Any] = {}     # what Vault reports for a field nobody set
    replace_fields: frozenset = frozenset()  # changing these means delete + create

    # -- from the spec -------------------------------------------------
    def resources(self, spec, ctx) -> List[Resource]:
        raise NotImplementedError

    def from_record(self, address: str, entry: dict) -> Optional[Resource]:
        """A resource known only from the ownership record (to delete it)."""
        return Resource(kind=self, address=address, id=entry["id"], meta=dict(entry.get("meta") or {}))

    # -- against Vault ---------------------------------------------------
    def read(self, ctx, res: Resource) -> Optional[Dict[str, Any]]:
        raise NotImplementedError

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

    def change_reason(self, change) -> str:
        return change.reason

    def destroy_notes(self, ctx, res: Resource) -> List[str]:
        return []

    def record_entry(self, ctx, res: Resource) -> dict:
        return {"kind": self.name, "id": res.id, "meta": res.meta.get("record", {})}


def compare_fields(res: Resource, live: Dict[str, Any], defaults: Dict[str, Any],
                   replace_fields: Iterable[str] = ()) -> List[FieldChange]:
    changes = []
    for name, want in (res.desired or {}).items():
        have = live.get(name, defaults.get(name, ABSENT))
        if want != have:
            changes.append(FieldChange(name, have, want, sensitive=res.is_sensitive(name),
                                       forces_replace=name in replace_fields))
    return changes
