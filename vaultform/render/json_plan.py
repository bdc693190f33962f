"""Machine-readable plan: a versioned JSON document for CI and other tools.

Display only, like render/text.py: the Plan is already diffed, this module
just lays it out. The shape is a public contract (schemas/plan-output.schema.json):

    {"format_version": "1.4",
     "vault_address": str | null,
     "options": {"targets": [str], "allow_destroy": bool,  (1.2; null for destroy)
                 "force": bool},
     "changes": [{"address", "action", "kind", "reason", "notes",
                  "before", "after", "changed_fields", "forces_replacement",
                  "moved": "spec" | "vault" | "both" | null}],   (1.4)
     "deferred": str | null,
     "warnings": [str],                                   (1.1)
     "summary": {"add", "change", "destroy"},
     "unmanaged": {kind: {"addresses": [str],             (1.4; null when the
                          "prune_key": str}} | null,       plan did not look)
     "apply": {"status", "done", "failed", "not_done",    (1.1; apply only)
               "error", "summary": {"added", "changed", "destroyed"}}}

- create:          before null, after = every desired field
- delete:          after null,  before = the live fields (or {} when unknown)
- update/replace:  only the changed fields, on both sides

A sensitive value is replaced by MASK, never shown (the renderer only ever
receives a placeholder for it, see render/masking.py); a field missing on one
side (ABSENT) is null and still listed in changed_fields. Bump FORMAT_VERSION
when a consumer would need to change (renamed/removed keys, new meanings);
adding an optional key is a minor bump.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, Iterable, Optional
from urllib.parse import urlsplit, urlunsplit

from vaultform.model import ABSENT, CREATE, DELETE, Change, FieldChange, Plan
from vaultform.render.masking import displayable_change, field_is_sensitive
from vaultform.render.options import options_to_json

# 1.1 added the optional "warnings" and "apply" keys; 1.2 the optional "options";
# 1.3 the refusal document (commands/common.py) printed when nothing could be planned;
# 1.4 the optional "unmanaged", and each change's optional "moved".
FORMAT_VERSION = "1.4"
MASK = "(sensitive)"


# -- shared with the Markdown renderer, so masking has one definition ----------

def is_sensitive(change: Change, name: str, fc: Optional[FieldChange] = None) -> bool:
    """A field is masked if anything says so (render/masking.py has the rule)."""
    return field_is_sensitive(change, name, fc)


def plain(value: Any) -> Any:
    """A JSON-safe copy of a field value; unknown objects become their str().

    Sets are sorted so the output does not depend on hash order; non-finite
    floats become strings because NaN/Infinity are not valid JSON.
    """
    if value is ABSENT or value is None or isinstance(value, (bool, int, str)):
        return None if value is ABSENT else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((plain(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return str(value)


def public_address(address: str) -> Optional[str]:
    """The Vault address without any user:password@ part (never print credentials)."""
    if not address:
        return None
    parts = urlsplit(address)
    if "@" not in parts.netloc:
        return address
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


# -- the document ----------------------------------------------------------------

def _masked(change: Change, name: str, value: Any, fc: Optional[FieldChange] = None) -> Any:
    # Absence is not a secret and says something useful ("added", "removed").
    if value is ABSENT:
        return None
    return MASK if is_sensitive(change, name, fc) else plain(value)


def _fields(change: Change, values: Dict[str, Any]) -> Dict[str, Any]:
    return {name: _masked(change, name, value) for name, value in values.items()}


def _sorted(names: Iterable[str]) -> list:
    return sorted(set(names))


def change_to_json(change: Change) -> Dict[str, Any]:
    change = displayable_change(change)  # from here on no sensitive value exists to print
    if change.action == CREATE:
        before, after = None, _fields(change, change.resource.desired or {})
        changed = after.keys()
    elif change.action == DELETE:
        before, after = _fields(change, change.live or {}), None
        changed = before.keys()
    else:  # update / replace: the changed fields only
        before = {f.name: _masked(change, f.name, f.before, f) for f in change.fields}
        after = {f.name: _masked(change, f.name, f.after, f) for f in change.fields}
        changed = (f.name for f in change.fields)
    return {
        "address": change.address,
        "action": change.action,
        "kind": change.resource.kind.name,
        "reason": change.reason or "",
        "moved": change.moved,
        "notes": list(change.notes),
        "before": before,
        "after": after,
        "changed_fields": _sorted(changed),
        "forces_replacement": _sorted(f.name for f in change.fields if f.forces_replace),
    }


def unmanaged_to_json(plan: Plan) -> Optional[Dict[str, Any]]:
    """What `plan --show-unmanaged` lists, by kind: the addresses (names only,
    as the text plan prints them: no kind that holds secret values is ever
    listed) sorted, and the key under `prune:` that would delete them instead.
    None when the plan did not look (it has changes and --show-unmanaged was
    not given); {} when it looked and Vault holds nothing unmanaged."""
    if plan.unmanaged is None:
        return None
    return {kind: {"addresses": _sorted(addresses), "prune_key": plan.prune_keys.get(kind)}
            for kind, addresses in plan.unmanaged.items() if addresses}


def plan_to_json(plan: Plan, address: str = "") -> Dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "vault_address": public_address(address),
        "options": options_to_json(plan),
        # Plan order is the planner's (apply) order, already deterministic.
        "changes": [change_to_json(c) for c in plan.changes],
        "deferred": plan.deferred or None,
        "warnings": [str(w) for w in plan.warnings],
        "summary": dict(plan.summary),
        "unmanaged": unmanaged_to_json(plan),
    }


def apply_result_to_json(result) -> Dict[str, Any]:
    """What `apply --format json` adds under "apply": an executor ApplyResult, by address."""
    return {
        "status": "failed" if result.error is not None else "complete",
        "done": [c.address for c in result.done],
        "failed": result.failed.address if result.failed is not None else None,
        "not_done": [c.address for c in result.not_done],
        "error": result.error,
        "summary": dict(result.summary),
    }


def dump(document: Dict[str, Any]) -> str:
    # sort_keys + fixed indent: byte-identical output for the same plan, so it
    # can be diffed, checksummed or stored as a CI artefact.
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render_json(plan: Plan, address: str = "") -> str:
    return dump(plan_to_json(plan, address))


def render_apply_json(plan: Plan, address: str, result) -> str:
    """The applied plan and, under "apply", what happened to each change."""
    return dump({**plan_to_json(plan, address), "apply": apply_result_to_json(result)})
