"""Access test results as a table (text), a JSON document, or Markdown for a
pull-request comment. Display only: access_tests.py has decided everything.

Paths, names and policy names come from the spec or from Vault; they are
escaped for Markdown, and the rich table never interprets markup in them.
"""

from __future__ import annotations

import io
import json
import shutil
from typing import Any, Dict, List, Optional

from vaultform.access_tests import VAULT, CheckResult, Run, TestResult
from vaultform.render.text import one_line

FORMAT_VERSION = "1.0"


def _caps(capabilities: Optional[List[str]]) -> str:
    return ", ".join(capabilities) if capabilities is not None else "?"


def _status(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def _how(run: Run) -> str:
    if run.planned:
        return "evaluated by vaultform from the policy texts: before = Vault now, after = this plan applied"
    if run.checked_by == VAULT:
        return "checked by Vault with short-lived tokens (revoked)"
    return "evaluated by vaultform from the live policy texts"


def summary(run: Run) -> str:
    passed = sum(1 for r in run.results if r.passed)
    failed = len(run.results) - passed
    return f"{passed} passed, {failed} failed."


# -- text ---------------------------------------------------------------------------------

def render_text(run: Run, colour: bool = False) -> str:
    from rich.console import Console  # ~100 ms to import: only when there is a table to draw
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"Access tests: {_how(run)}", title_justify="left", show_lines=False)
    table.add_column("result")
    table.add_column("test")
    table.add_column("as")
    table.add_column("check")
    if run.planned:
        table.add_column("before")
        table.add_column("after")
    else:
        table.add_column("capabilities")
    for result in run.results:
        rows = result.checks or []
        for i, check in enumerate(rows):
            cells = [_status(check.passed), result.test.name if i == 0 else "", result.test.who() if i == 0 else "",
                     check.check.describe()]
            if run.planned:
                cells += [_caps(check.before), _caps(check.after) + (f" ({check.change})" if check.change else "")]
            else:
                cells.append(_caps(check.after))
            styled = [Text(cell, style=("green" if check.passed else "red") if j == 0 else "")
                      for j, cell in enumerate(cells)]
            table.add_row(*styled)
    buffer = io.StringIO()
    # Not a terminal (a CI log): wide enough that a path is never wrapped.
    width = shutil.get_terminal_size((200, 24)).columns if colour else 200
    Console(file=buffer, force_terminal=colour, no_color=not colour, width=width, highlight=False).print(table)
    # Rich ends its lines with "\n" only: splitlines() would also cut a line
    # at a U+2028 or U+0085 in a path or name.
    lines = [line.rstrip() for line in buffer.getvalue().rstrip("\n").split("\n")]
    for result in run.results:
        # A test's name is the spec's text: one line, or it could forge a result line.
        if result.error:
            where = f"{result.test.location}: " if result.test.location else ""
            lines.append(f"FAIL {where}{one_line(result.test.name)}: {one_line(result.error)}")
        if run.planned and result.before_error and not result.error:
            lines.append(f"Note: {one_line(result.test.name)}: before this plan: {one_line(result.before_error)}")
    changes = [line for result in run.results for line in result.changes()]
    if changes:
        lines.append("")
        lines.append("Access changes:")
        lines += [f"  {line}" for line in changes]
    lines.append("")
    lines.append(f"Access tests: {summary(run)}")
    return "\n".join(lines) + "\n"


# -- JSON -------------------------------------------------------------------------------------

def _check_json(check: CheckResult, planned: bool) -> Dict[str, Any]:
    out: Dict[str, Any] = {"expect": "can" if check.check.expected else "cannot",
                           "capability": check.check.capability, "path": check.check.path}
    if planned:
        out.update(before=check.before, after=check.after, change=check.change)
    else:
        out["capabilities"] = check.after
    out["passed"] = check.passed
    return out


def _test_json(result: TestResult, planned: bool) -> Dict[str, Any]:
    where = result.test.location
    out: Dict[str, Any] = {"name": result.test.name, "as": result.test.identity,
                           "file": where.file if where else None, "line": where.line if where else None,
                           "policies": result.policies, "error": result.error}
    if planned:
        out.update(before_policies=result.before_policies, before_error=result.before_error)
    out.update(passed=result.passed, checks=[_check_json(c, planned) for c in result.checks])
    return out


def run_to_json(run: Run) -> Dict[str, Any]:
    passed = sum(1 for r in run.results if r.passed)
    out: Dict[str, Any] = {"checked_by": run.checked_by, "note": run.note, "passed": run.passed,
                           "summary": {"passed": passed, "failed": len(run.results) - passed},
                           "tests": [_test_json(r, run.planned) for r in run.results]}
    if run.planned:
        out["changes"] = [line for r in run.results for line in r.changes()]
    return out


def render_json(run: Run, address: str) -> str:
    return json.dumps({"format_version": FORMAT_VERSION, "vault_address": address, **run_to_json(run)},
                      indent=2, ensure_ascii=False) + "\n"


# -- Markdown ------------------------------------------------------------------------------------

def _cell_code(text: str) -> str:
    from vaultform.render.markdown import _code

    return _code(text).replace("|", "\\|")  # GFM ends a table cell at any unescaped |, code span or not


def render_markdown(run: Run) -> str:
    """A section to append to a plan's PR comment (or to stand alone)."""
    from vaultform.render.markdown import _code, _inline

    lines = ["### Access tests", "", f"{_inline(summary(run))} {_inline(_how(run)[:1].upper() + _how(run)[1:])}.", ""]
    changes = [line for r in run.results for line in r.changes()]
    if changes:
        lines.append("**Access changes:**")
        lines.append("")
        for result in run.results:
            for check in result.checks:
                if check.change:
                    # (Not in a table: a code span keeps a backslash before '|' as written.)
                    lines.append(f"- after this change, {_inline(result.test.who())} can **{check.change}** "
                                 f"{_inline(check.check.capability)} {_code(check.check.path)}")
        lines.append("")
    header = "| result | test | as | check | before | after |" if run.planned else \
        "| result | test | as | check | capabilities |"
    lines += [header, "|" + "---|" * header.count(" | ") + "---|"]
    for result in run.results:
        for check in result.checks:
            mark = "✅ pass" if check.passed else "❌ **fail**"
            cells = [mark, _inline(result.test.name), _inline(result.test.who()),
                     f"{'can' if check.check.expected else 'cannot'} {_inline(check.check.capability)} "
                     f"{_cell_code(check.check.path)}"]
            if run.planned:
                cells += [_inline(_caps(check.before)), _inline(_caps(check.after))]
            else:
                cells.append(_inline(_caps(check.after)))
            lines.append("| " + " | ".join(cells) + " |")
    errors = [(r.test.name, r.error) for r in run.results if r.error]
    if errors:
        lines.append("")
        lines += [f"- ❌ {_inline(name)}: cannot check: {_inline(error)}" for name, error in errors]
    return "\n".join(lines) + "\n"
