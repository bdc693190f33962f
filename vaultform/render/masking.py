"""What renderers see: the plan with every sensitive value already replaced.

A renderer that forgot a sensitivity check could otherwise print a secret;
here it cannot, because it never receives one. Every renderer's entry point
calls `displayable(plan)` first; the executor keeps the real plan.

A field is sensitive when anything says so: the field change, the resource
(fields the kind declares and fields holding a value-source value), or the
kind's own set (a resource rebuilt from the ownership record, to be deleted,
carries no desired values to tell by). Over-masking is harmless; a leak is not.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

from vaultform.model import ABSENT, Change, FieldChange, Plan
from vaultform.values import contains_secret


class _Placeholder:
    """Stands where a sensitive value was. Prints as the JSON plan's mask."""

    def __repr__(self) -> str:
        return "(sensitive)"

    __str__ = __repr__


SENSITIVE = _Placeholder()


def field_is_sensitive(change: Change, name: str, fc: Optional[FieldChange] = None) -> bool:
    if fc is not None and (fc.sensitive or contains_secret(fc.before) or contains_secret(fc.after)):
        return True
    res = change.resource
    kind = res.kind
    declared = getattr(kind, "sensitive_fields", None)
    names = declared(res) if callable(declared) else (getattr(kind, "sensitive", None) or ())
    return res.is_sensitive(name) or name in names


def _hide(value: Any) -> Any:
    # Absence is not a secret and says something useful ("added", "removed").
    return value if value is ABSENT or value is SENSITIVE else SENSITIVE


def _masked_fields(change: Change, values: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if values is None:
        return None
    return {name: _hide(value) if field_is_sensitive(change, name) else value for name, value in values.items()}


def displayable_change(change: Change) -> Change:
    res = change.resource
    fields = [dataclasses.replace(f, before=_hide(f.before), after=_hide(f.after), sensitive=True)
              if field_is_sensitive(change, f.name, f) else f for f in change.fields]
    sensitive = set(res.sensitive) | {f.name for f in fields if f.sensitive}
    sensitive |= {name for name in (res.desired or {}) if field_is_sensitive(change, name)}
    sensitive |= {name for name in (change.live or {}) if field_is_sensitive(change, name)}
    # The copy's sensitive set says what was masked, so renderers that ask
    # res.is_sensitive (the values are placeholders now) still answer yes.
    safe_res = dataclasses.replace(res, desired=_masked_fields(change, res.desired), sensitive=sensitive)
    return dataclasses.replace(change, resource=safe_res, fields=fields, live=_masked_fields(change, change.live))


def displayable(plan: Plan) -> Plan:
    """A copy of the plan that holds no sensitive value. Idempotent."""
    return dataclasses.replace(
        plan, changes=[displayable_change(c) for c in plan.changes],
        unchanged=[(dataclasses.replace(r, desired=None), None) for r, _ in plan.unchanged],
        adopt=[dataclasses.replace(r, desired=None) for r in plan.adopt])
