"""How apply and destroy show progress: `--progress live|plain|none`.

- live: on a terminal, one line per finished change scrolling above a live
  bar on stderr with done/total, rate and time left (drawn by `rich`, which
  handles terminal widths, redraws and Windows consoles better than
  hand-made escape codes would);
- plain: one line per finished change, `[12/400] policy.x: creating... done
  (0.1s)`; the default without a terminal and in CI, where a redrawn line
  only makes logs unreadable;
- none: nothing per change (the plan and the summary are still printed).

Changes run concurrently, so every line is printed whole when a change ends.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import click

from vaultform import redact
from vaultform.model import Change

LIVE, PLAIN, NONE = "live", "plain", "none"
MODES = (LIVE, PLAIN, NONE)
VERBS = {"create": "creating", "update": "updating", "delete": "destroying", "replace": "replacing"}


_chosen: Optional[str] = None


def choose(mode: Optional[str]) -> None:
    """The run's --progress (None: the default for where it runs)."""
    global _chosen
    _chosen = mode


def progress_mode() -> str:
    return _chosen or default_mode()


def default_mode() -> str:
    in_ci = any(os.environ.get(name) for name in ("CI", "GITHUB_ACTIONS", "BUILDKITE", "GITLAB_CI"))
    return LIVE if sys.stderr.isatty() and not in_ci else PLAIN


def change_line(event: str, change: Change, count: int, total: int, seconds: float) -> Optional[str]:
    prefix = f"[{count}/{total}] {change.address}: "
    verb = VERBS[change.action]
    if event == "done":
        return f"{prefix}{verb}... done ({seconds:.1f}s)"
    if event == "step":  # a step of its own after the change (executor.run_one)
        return f"{prefix}{change.resource.meta.get('step', 'next step')}... done ({seconds:.1f}s)"
    if event == "failed":
        return f"{prefix}{verb}... FAILED"
    if event == "skipped":
        return f"{prefix}skipped (depends on a change that failed)"
    return None  # "start": nothing until it ends


class Reporter:
    """Receives the executor's events; `say` prints a line of its own."""

    def __init__(self, mode: str):
        self.mode = mode
        self._live = None
        self._task = None

    def __call__(self, event: str, change: Change, count: int, total: int, seconds: float) -> None:
        if self.mode == NONE:
            return
        if self.mode == LIVE:
            self._advance(event, total)
        line = change_line(event, change, count, total, seconds)
        if line is not None:
            self.say(line)

    def say(self, text: str, err: bool = False) -> None:
        text = redact.redact(text)
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
            return
        if err:
            sys.stdout.flush()
        click.echo(text, err=err)

    def _advance(self, event: str, total: int) -> None:
        if self._live is None:
            from rich.console import Console  # only for a live display: it costs ~100 ms to import
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeRemainingColumn)

            self._live = Progress(TextColumn("applying"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                  console=Console(stderr=True), transient=True)
            self._live.start()
            self._task = self._live.add_task("apply", total=total, rate="")
        if event in ("done", "failed", "skipped"):
            self._live.advance(self._task)
            task = self._live.tasks[0]
            if task.speed:
                self._live.update(self._task, rate=f"{task.speed:.0f}/s")

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def progress_option(fn):
    def remember(ctx, param, value):
        choose(value)
        return value

    return click.option("--progress", type=click.Choice(MODES), default=None, expose_value=False,
                        callback=remember, is_eager=True,
                        help="live: a bar on a terminal; plain: a line per change (the default without a "
                             "terminal and in CI); none: only the summary.")(fn)
