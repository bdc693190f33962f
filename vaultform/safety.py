"""Safety rails checked at plan time (destroying mounts, bulk changes)."""

from __future__ import annotations


def check_plan(ctx, plan, options) -> None:
    return None
