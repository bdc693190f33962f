"""Terraform-like text rendering of a plan. Display only: no diffing here.

Sensitive values never reach the output: a sensitive field renders as
"(sensitive value)" or "(sensitive value changed)" whatever it holds, and is
never diffed. Multi-line values (policies, PEM certificates, JSON documents)
show as a unified diff with context under their field; other values whole.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any, List, Optional

import click

from vaultform.model import ABSENT, CREATE, DELETE, REPLACE, SYMBOLS, UPDATE, Change, Plan
from vaultform.render.masking import displayable
from vaultform.render.options import option_flags

COLOURS = {CREATE: "green", UPDATE: "yellow", DELETE: "red", REPLACE: "magenta"}
DIFF_COLOURS = {"+": "green", "-": "red", "@": "cyan"}
MAX_VALUE = 60      # a JSON object or list longer than this is laid out over lines
CONTEXT = 3         # unchanged lines around each change in a multi-line diff
FIELD_INDENT = " " * 8
BLOCK_INDENT = " " * 12


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def block_lines(value: Any) -> Optional[List[str]]:
    """The lines of a multi-line value (a policy, a PEM certificate, a JSON
    document, a long object), or None for a value that reads on one line."""
    if isinstance(value, str):
        return value.splitlines() if "\n" in value.rstrip("\n") or value.count("\n") > 1 else None
    if isinstance(value, (dict, list, set, tuple)) and len(_json(value)) > MAX_VALUE:
        shown = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return json.dumps(shown, sort_keys=True, default=str, ensure_ascii=False, indent=2).splitlines()
    return None


def _indented(value: Any) -> Optional[List[str]]:
    if not isinstance(value, (dict, list, set, tuple)):
        return None
    shown = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
    return json.dumps(shown, sort_keys=True, default=str, ensure_ascii=False, indent=2).splitlines()


def show_value(value: Any) -> str:
    """One line: strings whole (a path is useless cut short), JSON otherwise."""
    if value is ABSENT:
        return "(absent)"
    return _json(sorted(value, key=str) if isinstance(value, (set, frozenset)) else value)


def show_change(before: Any, after: Any) -> str:
    shown_before, shown_after = show_value(before), show_value(after)
    if shown_before == shown_after and before is not ABSENT and after is not ABSENT:
        # Equal once shown (a set and the list it became): show the part that differs.
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


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def unified_lines(before: List[str], after: List[str]) -> List[str]:
    """A unified diff without the file header: `@@` hunks, ` `, `-` and `+` lines."""
    diff = list(difflib.unified_diff(before, after, n=CONTEXT, lineterm=""))
    return diff[2:]  # drop "--- " and "+++ "


def _block_change(before: Any, after: Any) -> Optional["tuple[str, List[str]]"]:
    """(summary, diff lines) when either side is multi-line; None otherwise."""
    old = [] if before is ABSENT else block_lines(before)
    new = [] if after is ABSENT else block_lines(after)
    if old is None and new is None or (old == [] and new is None) or (new == [] and old is None):
        return None
    # A short object against a long one: both as indented JSON, so the diff
    # compares like with like (not one line against seven).
    old = old if old is not None else (_indented(before) or show_value(before).splitlines())
    new = new if new is not None else (_indented(after) or show_value(after).splitlines())
    lines = unified_lines(old, new)
    if not lines:
        return None  # only line endings differ: the one-line form shows where
    removed = sum(1 for line in lines if line.startswith("-"))
    added = sum(1 for line in lines if line.startswith("+"))
    if before is ABSENT:
        summary = f"(added, {_plural(added, 'line')})"
    elif after is ABSENT:
        summary = f"(removed, {_plural(removed, 'line')})"
    else:
        summary = f"({_plural(removed, 'line')} removed, {added} added)"
    return summary, lines


def _multi_line(value: Any) -> bool:
    return value is not ABSENT and block_lines(value) is not None


def _is_default(res, key: str, value: Any) -> bool:
    """Creation output lists what the spec sets, not every default."""
    if key.startswith("config."):
        return getattr(res.kind, "tuning_defaults", {}).get(key[len("config."):], ABSENT) == value
    return res.kind.defaults.get(key, ABSENT) == value


def _paint(line: str, colour: bool) -> str:
    """A diff line in its colour (on a terminal only)."""
    fg = DIFF_COLOURS.get(line[:1])
    return click.style(line, fg=fg) if colour and fg else line


def _field_lines(change: Change, colour: bool = False) -> List[str]:
    """The lines under a change's header, without their indent; lines of a
    multi-line value are indented 4 more."""
    res = change.resource
    lines: List[str] = []
    if change.action == CREATE:
        # Sorted, as the JSON document is: `show PLANFILE` renders the same lines.
        items = [(k, v) for k, v in sorted((res.desired or {}).items()) if not _is_default(res, k, v)]
        width = max((len(k) for k, _ in items), default=0)
        for key, value in items:
            block = None if res.is_sensitive(key) else block_lines(value)
            if res.is_sensitive(key):
                lines.append(f"{key.ljust(width)} = (sensitive value)")
            elif block is not None:
                lines.append(f"{key.ljust(width)} = ({_plural(len(block), 'line')})")
                lines.extend((BLOCK_INDENT[len(FIELD_INDENT):] + line).rstrip() for line in block)
            else:
                lines.append(f"{key.ljust(width)} = {show_value(value)}")
        return lines
    width = max((len(f.name) for f in change.fields), default=0)
    for f in sorted(change.fields, key=lambda f: f.name):
        suffix = "  # forces replacement" if f.forces_replace else ""
        block = None
        if f.sensitive:
            # Never a diff of a sensitive value (and the masked plan holds none).
            if f.before is ABSENT:
                shown = "(sensitive value added)"
            elif f.after is ABSENT:
                shown = "(sensitive value removed)"
            else:
                shown = "(sensitive value changed)"
        else:
            block = _block_change(f.before, f.after)
            if block:
                shown = block[0]
            elif _multi_line(f.before) or _multi_line(f.after):
                # Same lines, other line endings: show where the text differs.
                shown = " -> ".join(_around_difference(_json(f.before), _json(f.after)))
            else:
                shown = show_change(f.before, f.after)
        lines.append(f"{f.name.ljust(width)} : {shown}{suffix}")
        if block:
            lines.extend((BLOCK_INDENT[len(FIELD_INDENT):] + _paint(line, colour)).rstrip() for line in block[1])
    return lines


# What would end a line of the plan or of an exported spec's comment (YAML's
# and Unicode's line breaks too, and a byte-order mark) or move the cursor: a
# name made by hand in Vault (an identity entity's can hold any text) must
# not forge a line that was never written.
_NOT_IN_A_LINE = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029\ufeff]")


def one_line(text: str) -> str:
    """text on one line: each such character as its \\uXXXX escape."""
    return _NOT_IN_A_LINE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))


def render_change(change: Change, colour: bool = False) -> List[str]:
    symbol = SYMBOLS[change.action].rjust(3)
    # "not in Vault" is what a create means anyway; any other reason is news.
    reason = f"  ({one_line(change.reason)})" if change.reason and change.reason != "not in Vault" else ""
    head = f"{symbol} {one_line(change.address)}{reason}"
    out = [click.style(head, fg=COLOURS[change.action], bold=True) if colour else head]
    out.extend((FIELD_INDENT + line).rstrip() for line in _field_lines(change, colour))
    for note in change.notes:
        text = f"        ! {one_line(note)}"
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


def unmanaged_note(plan: Plan, listed: bool = False) -> List[str]:
    """Under "No changes": what Vault holds beside the spec, counted per kind,
    and how to list or prune it. With `listed`, every address. Nothing when
    the plan did not look (a deferred plan: the cluster could not be read)."""
    if plan.unmanaged is None:
        return []
    if not plan.unmanaged:
        return ["No object in Vault is left unmanaged."] if listed else []
    total = sum(len(addresses) for addresses in plan.unmanaged.values())
    counts = ", ".join(f"{kind}: {len(addresses)}" for kind, addresses in sorted(plan.unmanaged.items()))
    prune = ", ".join(f"{key}: true" for key in sorted(set(plan.prune_keys.get(k, k) for k in plan.unmanaged)))
    what = f"{total} object{'s' if total != 1 else ''}"
    # Objects inside a namespace are pruned by that namespace's own prune:
    # (namespaces.<name>.prune), never the root's.
    # (A namespace made by hand at the root, namespace.<name>, is the root's.)
    inside = any(a.startswith("namespace.") and (":" in a or "/" in a)
                 for addresses in plan.unmanaged.values() for a in addresses)
    where = " (at the root, or in a namespace's body for those inside it)" if inside else ""
    lines = [f"Vault also holds {what} that vaultform does not manage ({counts})."]
    if listed:
        for kind, addresses in sorted(plan.unmanaged.items()):
            lines.extend(f"    {one_line(address)}" for address in addresses)
        lines.append(f"Add them to the spec to manage them, or set `prune: {{{prune}}}`{where} to delete them.")
    else:
        lines.append(f"List them with `vaultform plan --show-unmanaged`; add them to the spec, or set "
                     f"`prune: {{{prune}}}`{where} to delete them.")
    return lines


def render_plan(plan: Plan, address: str = "", colour: bool = False, show_unmanaged: bool = False) -> str:
    plan = displayable(plan)  # from here on no sensitive value exists to print
    lines: List[str] = []
    for warning in plan.warnings:
        lines.append(f"Warning: {one_line(warning)}")
    note = record_note(plan)
    if not plan.changes and not plan.deferred:
        lines.append("No changes. Vault matches the spec.")
        lines.extend(options_line(plan))
        if note:
            lines.append(note)
        lines.extend(unmanaged_note(plan, show_unmanaged))
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
    if show_unmanaged:
        lines.extend([""] + unmanaged_note(plan, listed=True))
    return "\n".join(lines)
