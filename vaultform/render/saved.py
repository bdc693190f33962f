"""A saved plan's `plan` document (the `plan --format json` document stored in
the plan file) back into a Plan that every renderer takes, with no Vault.

`vaultform show PLANFILE` renders from it, so what CI posts for review is
made from the very file `apply PLANFILE` applies. The document holds no
secret: a masked value ("(sensitive)") stays masked, and a field holding one
anywhere is sensitive, so it shows as "(sensitive value ...)" and is never
diffed. A field missing on one side of a change is null in the document and
shows as "(absent)".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from vaultform.model import ABSENT, CREATE, DELETE, Change, FieldChange, Plan, Resource
from vaultform.render.json_plan import MASK


@dataclass
class _UnknownKind:
    """A kind this vaultform does not have (the plan was made by another version)."""
    name: str
    rank: int = 50
    defaults: dict = field(default_factory=dict)
    sensitive: frozenset = frozenset()


def _masked(value: Any) -> bool:
    if value == MASK:
        return True
    if isinstance(value, dict):
        return any(_masked(v) for v in value.values())
    if isinstance(value, list):
        return any(_masked(v) for v in value)
    return False


def _side(values: Optional[Dict[str, Any]], name: str) -> Any:
    if values is None or values.get(name) is None:
        return ABSENT
    return values[name]


def _change(entry: Dict[str, Any], kinds: Dict[str, Any]) -> Change:
    kind = kinds.get(entry["kind"]) or _UnknownKind(entry["kind"])
    action, before, after = entry["action"], entry.get("before"), entry.get("after")
    address = entry["address"]
    shown = after if action == CREATE else before if action == DELETE else {**(before or {}), **(after or {})}
    sensitive = {name for name, value in (shown or {}).items() if _masked(value)}
    res = Resource(kind=kind, address=address, id=address.split(".", 1)[-1],
                   desired=dict(after) if action == CREATE else None, sensitive=sensitive)
    change = Change(action, res, reason=entry.get("reason") or "", notes=list(entry.get("notes") or []),
                    moved=entry.get("moved"))  # absent before format 1.4
    if action == DELETE:
        change.live = dict(before or {})
    elif action != CREATE:
        replacing = set(entry.get("forces_replacement") or ())
        change.fields = [FieldChange(name, _side(before, name), _side(after, name), sensitive=name in sensitive,
                                     forces_replace=name in replacing)
                         for name in entry.get("changed_fields") or ()]
        change.live = {}
    return change


def plan_from_document(document: Dict[str, Any]) -> Plan:
    """The Plan a `plan --format json` document describes."""
    from vaultform.kinds import by_name
    from vaultform.planner import PlanOptions

    kinds = by_name()
    options = document.get("options")
    # Absent before format 1.4, null when the plan did not look: None either way.
    unmanaged = document.get("unmanaged")
    unmanaged = None if not isinstance(unmanaged, dict) else {
        kind: list(entry.get("addresses") or []) for kind, entry in unmanaged.items()}
    prune_keys = {kind: entry["prune_key"] for kind, entry in (document.get("unmanaged") or {}).items()
                  if isinstance(entry, dict) and entry.get("prune_key")}
    return Plan(changes=[_change(entry, kinds) for entry in document.get("changes") or []],
                warnings=list(document.get("warnings") or []), deferred=document.get("deferred"),
                options=None if options is None else PlanOptions(
                    targets=tuple(options.get("targets") or ()), allow_destroy=bool(options.get("allow_destroy")),
                    force=bool(options.get("force"))),
                unmanaged=unmanaged, prune_keys=prune_keys)
