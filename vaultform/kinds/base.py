"""What every resource kind provides, and the diffing they share.

A kind turns its part of the spec into Resources with *normalised* desired
fields (the same form `read` returns), so the shared diff is plain equality
over the fields the spec declares plus the kind's defaults.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from vaultform.errors import VaultRequestError
from vaultform.model import ABSENT, FieldChange, Resource

PREVENT_DESTROY = "prevent_destroy"  # a field only the ownership record holds


class Kind:
    name: str = ""                    # address prefix, e.g. "policy"
    rank: int = 50                    # apply order; deletions run in reverse
    recorded: bool = True             # listed in the ownership record
    prune_key: Optional[str] = None   # key under `prune:` that opts into deleting unmanaged objects
    defaults: Dict[str, Any] = {}     # what Vault reports for a field nobody set
    replace_fields: frozenset = frozenset()  # changing these means delete + create
    # Deleting (or re-creating) one destroys everything stored under it, so
    # plans need --allow-destroy or the spec's consent (see safety.py).
    destroys_contents: bool = False

    # -- from the spec -------------------------------------------------
    def resources(self, spec, ctx) -> List[Resource]:
        raise NotImplementedError

    def from_record(self, address: str, entry: dict) -> Optional[Resource]:
        """A resource known only from the ownership record (to delete it).

        Its spec entry is gone, so prevent_destroy comes from the record: a
        protected object stays protected when it is removed from the spec."""
        return Resource(kind=self, address=address, id=entry["id"], meta=dict(entry.get("meta") or {}),
                        prevent_destroy=bool(entry.get("prevent_destroy")))

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
        entry = {"kind": self.name, "id": res.id, "meta": res.meta.get("record", {})}
        if res.prevent_destroy:
            entry["prevent_destroy"] = True  # absent when false: older records read the same
        return entry


def write(ctx, path: str, data: dict, hint: str = "") -> Any:
    """Write to Vault, failing when nothing was written.

    The API client reads a 404 as "absent" (right for reads and deletes), but
    for a write it means no handler serves the path: Vault did nothing, and
    an apply that carried on would report the change done and plan it again."""
    response = ctx.api.write(path, data)
    if response is None:
        raise VaultRequestError(f"POST {path} failed: Vault has no handler for this path, nothing was written"
                                + (f" ({hint})" if hint else ""))
    return response


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
