"""The output formats of plan and apply, by name (`--format text|json|markdown`).

Each renderer only lays out a Plan that is already diffed; this module picks
one. Text is for a terminal, JSON for tools (schemas/plan-output.schema.json),
Markdown for a pull-request comment.
"""

from __future__ import annotations

from vaultform.model import Plan
from vaultform.render.json_plan import render_apply_json, render_json
from vaultform.render.markdown import render_apply_markdown, render_markdown
from vaultform.render.text import render_plan

TEXT, JSON, MARKDOWN = "text", "json", "markdown"
FORMATS = (TEXT, JSON, MARKDOWN)


def render_plan_as(output_format: str, plan: Plan, address: str, colour: bool = False,
                   show_unmanaged: bool = False) -> str:
    """The whole plan, ending in a newline."""
    if output_format == JSON:
        return render_json(plan, address)
    if output_format == MARKDOWN:
        return render_markdown(plan, address)
    return render_plan(plan, address, colour, show_unmanaged) + "\n"


def render_applied_as(output_format: str, plan: Plan, address: str, result) -> str:
    """The applied plan with what happened to it (JSON and Markdown; text
    reports progress line by line instead)."""
    if output_format == JSON:
        return render_apply_json(plan, address, result)
    return render_apply_markdown(plan, address, result)
