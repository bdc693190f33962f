"""Terraform-like text rendering of a plan. Display only: no diffing here.

Sensitive values never reach the output: a sensitive field renders as
"(sensitive value)" or "(sensitive value changed)" whatever it holds.
"""

from __future__ import annotations

import json
from typing import Any, List

import click

from vaultform.model import ABSENT, CREATE, DELETE, REPLACE, SYMBOLS, UPDATE, Change, Plan
from vaultform.render.masking import displayable
from vaultform.render.options import option_flags

COLOURS = {CREATE: "green", UPDATE: "yellow", DELETE: "red", REPLACE: "magenta"}
MAX_VALUE = 60


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def show_value(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    text = _json(value)
    if isinstance(value, str) and ("\n" in value or len(text) > MAX_VALUE):
        first = value.strip().splitlines()[0] if value.strip() else ""
        return json.dumps(first[:40] + "…", ensure_ascii=False) + f" ({len(value)} bytes)"
    if len(text) > MAX_VALUE * 2:
        return text[: MAX_VALUE * 2] + "…"
    return text


def show_change(before: Any, after: Any) -> str:
    shown_before, shown_after = show_value(before), show_value(after)
    if shown_before == shown_after and before is not ABSENT and after is not ABSENT:
        # Shortening hid the difference (a policy whose first line and size
        # stay the same, a trailing newline): show the part that differs.
        shown_before, shown_after = _around_difference(_json(before), _json(after))
    return f"{shown_before} -> {shown_after}"


def _around_difference(before: str, after: str, context: int = 20):
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    tail = 0
    while (tail < min(len(before), len(after)) - start
           and before[len(before) - 1 - tail] == after[len(after) - 1 - tail]):
        tail += 1
    low = max(0, start - context)

    def window(text: str) -> str:
        high = min(len(text), len(text) - tail + context, low + MAX_VALUE * 2)
        return ("…" if low else "") + text[low:high] + ("…" if high < len(text) else "")

    return window(before), window(after)


def _is_default(res, key: str, value: Any) -> bool:
    """Creation output lists what the spec sets, not every default."""
    if key.startswith("config."):
        return getattr(res.kind, "tuning_defaults", {}).get(key[len("config."):], ABSENT) == value
    return res.kind.defaults.get(key, ABSENT) == value


def _field_lines(change: Change) -> List[str]:
    res = change.resource
    lines = []
    if change.action == CREATE:
        items = [(k, v) for k, v in (res.desired or {}).items() if not _is_default(res, k, v)]
        width = max((len(k) for k, _ in items), default=0)
        for key, value in items:
            shown = "(sensitive value)" if res.is_sensitive(key) else show_value(value)
            lines.append(f"{key.ljust(width)} = {shown}")
        return lines
    width = max((len(f.name) for f in change.fields), default=0)
    for f in change.fields:
        if f.sensitive:
            if f.before is ABSENT:
                shown = "(sensitive value added)"
            elif f.after is ABSENT:
                shown = "(sensitive value removed)"
            else:
                shown = "(sensitive value changed)"
        else:
            shown = show_change(f.before, f.after)
        suffix = "  # forces replacement" if f.forces_replace else ""
        lines.append(f"{f.name.ljust(width)} : {shown}{suffix}")
    return lines


def render_change(change: Change, colour: bool = False) -> List[str]:
    symbol = SYMBOLS[change.action].rjust(3)
    # "not in Vault" is what a create means anyway; any other reason is news.
    reason = f"  ({change.reason})" if change.reason and change.reason != "not in Vault" else ""
    head = f"{symbol} {change.address}{reason}"
    out = [click.style(head, fg=COLOURS[change.action], bold=True) if colour else head]
    out.extend(f"        {line}" for line in _field_lines(change))
    for note in change.notes:
        text = f"        ! {note}"
        out.append(click.style(text, fg="red") if colour else text)
    return out


def summary_line(plan: Plan) -> str:
    s = plan.summary
    return f"Plan: {s['add']} to add, {s['change']} to change, {s['destroy']} to destroy."


def record_note(plan: Plan) -> str:
    """What apply also writes to the ownership record (nothing in Vault's configuration)."""
    parts = []
    if plan.adopt:
        parts.append(f"record {len(plan.adopt)} object(s) found exactly as the spec says as managed")
    if plan.forget:
        parts.append(f"drop {len(plan.forget)} entr{'y' if len(plan.forget) == 1 else 'ies'} of objects "
                     "gone from Vault or changed by hand (nothing is deleted)")
    if plan.migrate_record:
        parts.append("move the ownership record to its sharded format")
    return ("Apply will also " + "; and ".join(parts) + ".") if parts else ""


def options_line(plan: Plan) -> List[str]:
    """Nothing when the plan was made without options (the default behaviour)."""
    flags = option_flags(plan)
    return [f"Planned with {' '.join(flags)}."] if flags else []


def render_plan(plan: Plan, address: str = "", colour: bool = False) -> str:
    plan = displayable(plan)  # from here on no sensitive value exists to print
    lines: List[str] = []
    for warning in plan.warnings:
        lines.append(f"Warning: {warning}")
    note = record_note(plan)
    if not plan.changes and not plan.deferred:
        lines.append("No changes. Vault matches the spec.")
        lines.extend(options_line(plan))
        if note:
            lines.append(note)
        return "\n".join(lines)
    where = f" (Vault at {address})" if address else ""
    if plan.changes:
        lines.append(f"vaultform will perform the following actions{where}:")
        lines.extend(options_line(plan))
        lines.append("")
        for change in plan.changes:
            lines.extend(render_change(change, colour))
            lines.append("")
    elif options_line(plan):
        lines.extend(options_line(plan) + [""])
    if plan.deferred:
        lines.append(f"Note: {plan.deferred}.")
        lines.append("")
    lines.append(summary_line(plan))
    if note:
        lines.append(note)
    return "\n".join(lines)
