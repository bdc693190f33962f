"""The options a plan was made with, as every renderer shows them.

`--target`, `--allow-destroy` and `--force` change what a plan contains and
what it is allowed to destroy, so a reviewer must see them wherever the plan
is shown (text, JSON, Markdown), and a saved plan is applied with them.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from vaultform.model import Plan


def options_to_json(plan: Plan) -> Optional[Dict[str, Any]]:
    """{"targets", "allow_destroy", "force"}; None for a plan that takes no
    options (`vaultform destroy`)."""
    options = plan.options
    if options is None:
        return None
    return {"targets": [str(t) for t in options.targets], "allow_destroy": bool(options.allow_destroy),
            "force": bool(options.force)}


def option_flags(plan: Plan) -> List[str]:
    """The options as command-line flags, in a fixed order; empty when none was given."""
    options = options_to_json(plan)
    if options is None:
        return []
    flags = [f"--target {target}" for target in options["targets"]]
    if options["allow_destroy"]:
        flags.append("--allow-destroy")
    if options["force"]:
        flags.append("--force")
    return flags
