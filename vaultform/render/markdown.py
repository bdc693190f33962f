"""A plan as a pull-request comment (GitHub-flavoured Markdown). Display only.

Order follows what a reviewer needs first: the counts, then a loud warning if
anything is destroyed or replaced, then a table, then per-object diffs folded
into <details> so a large plan stays readable.

Masking uses json_plan.is_sensitive, the same rule as the JSON output; a
sensitive field shows only that it changed:
    + name: (sensitive value)          (created, or added to an object)
    - name: (sensitive value)          (removed, or the object is destroyed)
    ! name: (sensitive value changed)
Everything that comes from the plan (addresses, reasons, notes) is escaped for
the context it lands in, so a '|' or a backtick cannot break the table or fence.
"""

from __future__ import annotations

import difflib
import html
import json
import re
from typing import Any, List

from vaultform.model import ABSENT, CREATE, DELETE, REPLACE, SYMBOLS, Change, Plan
from vaultform.render.json_plan import is_sensitive, plain, public_address
from vaultform.render.masking import displayable
from vaultform.render.options import option_flags

# GitHub rejects comments over 65,536 characters; keep headroom for a footer.
MAX_COMMENT = 60_000
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


# -- escaping ---------------------------------------------------------------------

def _inline(text: str) -> str:
    """Plain text for a table cell, list item or paragraph: one line, nothing active."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _code(text: str) -> str:
    """An inline code span that survives backticks in `text`."""
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (run + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fence(lines: List[str]) -> str:
    """A ``` fence longer than any backtick run in the content, so a value cannot close it."""
    run = max((len(m) for line in lines for m in re.findall(r"`{3,}", line)), default=0)
    return "`" * max(3, run + 1)


# -- per-field diff lines ---------------------------------------------------------

def _show(value: Any) -> str:
    return json.dumps(plain(value), sort_keys=True, ensure_ascii=False)


def _is_block(value: Any) -> bool:
    return isinstance(value, str) and "\n" in value


def _side(sign: str, name: str, value: Any, suffix: str = "") -> List[str]:
    """One side of a field: `sign name: value`, or a block for multi-line text (policies)."""
    if _is_block(value):
        return [f"{sign} {name}: |{suffix}"] + [f"{sign}   {line}" for line in value.splitlines()]
    return [f"{sign} {name}: {_show(value)}{suffix}"]


def _is_default(change: Change, name: str, value: Any) -> bool:
    # Same rule as the text renderer: creation shows what the spec sets, not every default.
    kind = change.resource.kind
    if name.startswith("config."):
        return getattr(kind, "tuning_defaults", {}).get(name[len("config."):], ABSENT) == value
    return (getattr(kind, "defaults", None) or {}).get(name, ABSENT) == value


def _diff_lines(change: Change) -> List[str]:
    res = change.resource
    if change.action == CREATE:
        # Sorted, as the JSON document is: `show PLANFILE` renders the same lines.
        return [line for name, value in sorted((res.desired or {}).items()) if not _is_default(change, name, value)
                for line in (["+ " + name + ": (sensitive value)"] if is_sensitive(change, name)
                             else _side("+", name, value))]
    if change.action == DELETE:
        return [line for name, value in sorted((change.live or {}).items())
                for line in (["- " + name + ": (sensitive value)"] if is_sensitive(change, name)
                             else _side("-", name, value))]
    out: List[str] = []
    for f in sorted(change.fields, key=lambda f: f.name):
        tag = "  # forces replacement" if f.forces_replace else ""
        if is_sensitive(change, f.name, f):
            if f.before is ABSENT:
                out.append(f"+ {f.name}: (sensitive value){tag}")
            elif f.after is ABSENT:
                out.append(f"- {f.name}: (sensitive value){tag}")
            else:
                out.append(f"! {f.name}: (sensitive value changed){tag}")
        elif _is_block(f.before) and _is_block(f.after):
            # A line diff reads far better than two whole policies.
            out.append(f"  {f.name}: |{tag}")
            for line in difflib.ndiff(f.before.splitlines(), f.after.splitlines()):
                if line[:1] in "+- ":
                    out.append(f"{line[0]}   {line[2:]}")
        else:
            if f.before is not ABSENT:
                out.extend(_side("-", f.name, f.before, "" if f.after is not ABSENT else tag))
            if f.after is not ABSENT:
                out.extend(_side("+", f.name, f.after, tag))
    return out


# -- sections ---------------------------------------------------------------------

def summary_line(plan: Plan) -> str:
    s = plan.summary
    return f"**Plan:** {s['add']} to add, {s['change']} to change, {s['destroy']} to destroy."


def _callout(kind: str, body: List[str]) -> List[str]:
    return [f"> [!{kind}]"] + [f"> {line}" if line else ">" for line in body] + [""]


def _caution(plan: Plan) -> List[str]:
    doomed = [c for c in plan.changes if c.action in (DELETE, REPLACE)]
    if not doomed:
        return []
    body = [f"This plan destroys or replaces {len(doomed)} object(s); their data in Vault is lost:", ""]
    for c in doomed:
        reason = f": {_inline(c.reason)}" if c.reason else ""
        body.append(f"- **{c.action}** {_inline(c.address)}{reason}")
        body.extend(f"  - {_inline(note)}" for note in c.notes)
    return _callout("CAUTION", body)


def _table(plan: Plan) -> List[str]:
    rows = ["| | Address | Action | Reason |", "|---|---|---|---|"]
    rows += [f"| {SYMBOLS[c.action]} | {_inline(c.address)} | {c.action} | {_inline(c.reason)} |"
             for c in plan.changes]
    return rows + [""]


def _details(change: Change) -> List[str]:
    lines = _diff_lines(change)
    if not lines and not change.notes:
        return []
    title = f"{html.escape(SYMBOLS[change.action])} <code>{html.escape(change.address)}</code> ({change.action})"
    out = ["<details>", f"<summary>{title}</summary>", ""]
    if lines:
        fence = _fence(lines)
        out += [fence + "diff"] + lines + [fence, ""]
    out += [f"- :warning: {_inline(note)}" for note in change.notes]
    out += ([""] if change.notes else []) + ["</details>", ""]
    return out


def _options(plan: Plan) -> List[str]:
    """Nothing when the plan was made without options (the default behaviour)."""
    flags = option_flags(plan)
    return [f"Planned with {' '.join(_code(flag) for flag in flags)}.", ""] if flags else []


def render_markdown(plan: Plan, address: str = "") -> str:
    plan = displayable(plan)  # from here on no sensitive value exists to print
    if not plan.changes and not plan.deferred:
        head = ["**No changes.** Vault matches the spec.", ""] + _options(plan)
        if plan.unmanaged:
            # Same words as the text plan (render/text.py: unmanaged_note).
            from vaultform.render.text import unmanaged_note
            head += [_inline(" ".join(unmanaged_note(plan))), ""]
        for warning in plan.warnings:
            head += _callout("WARNING", [_inline(warning)])
        return "\n".join(head).rstrip("\n") + "\n"
    out = [summary_line(plan), ""]
    where = public_address(address)
    if where:
        out += [f"Planned against {_code(where)}.", ""]
    out += _options(plan)
    for warning in plan.warnings:
        out += _callout("WARNING", [_inline(warning)])
    out += _caution(plan)
    if plan.deferred:
        out += _callout("NOTE", [_inline(plan.deferred) + "."])
    if plan.changes:
        out += _table(plan)
    size = sum(len(line) + 1 for line in out)
    for i, change in enumerate(plan.changes):
        section = _details(change)
        cost = sum(len(line) + 1 for line in section)
        if size + cost > MAX_COMMENT:
            # Better a shorter comment than one GitHub refuses to post.
            out += [f"_Diffs of {len(plan.changes) - i} more object(s) omitted to fit a comment; "
                    "run `vaultform plan` for the full plan._", ""]
            break
        out += section
        size += cost
    return "\n".join(out).rstrip("\n") + "\n"


def apply_result_markdown(result) -> str:
    """What `apply --format markdown` appends to the plan: the outcome, by address."""
    s = result.summary
    counts = f"Resources: {s['added']} added, {s['changed']} changed, {s['destroyed']} destroyed."
    if result.error is None:
        return f"**Apply complete!** {counts}\n"
    def listed(changes) -> str:
        return ", ".join(_code(c.address) for c in changes) or "nothing"

    where = f" at {_code(result.failed.address)}" if result.failed is not None else ""
    failed = [c for c, _ in result.failures] or ([result.failed] if result.failed is not None else [])
    body = [f"**Apply failed**{where}: {_inline(result.error)}", "", f"Done: {listed(result.done)}."]
    if failed:
        body.append(f"Failed: {listed(failed)}.")
    if result.skipped:
        body.append(f"Skipped (depend on a failed change): {listed(result.skipped)}.")
    if result.not_attempted:
        body.append(f"Not attempted: {listed(result.not_attempted)}.")
    body.append("Fix the cause and run apply again; it converges.")
    return "\n".join(_callout("CAUTION", body)).rstrip("\n") + "\n"


def render_apply_markdown(plan: Plan, address: str, result) -> str:
    return render_markdown(plan, address) + "\n---\n\n" + apply_result_markdown(result)
