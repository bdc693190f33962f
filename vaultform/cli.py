"""The command line: the group, its commands, and the top-level error guard.

Each command lives in its own module under vaultform/commands/.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

import click

import importlib
import pkgutil

from vaultform import __version__, commands
from vaultform.commands.common import EXIT_ERROR, out


def _commands():
    """Every module in vaultform/commands that defines COMMAND adds one."""
    found = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        command = getattr(importlib.import_module(f"{commands.__name__}.{info.name}"), "COMMAND", None)
        if command is not None:
            found.append(command)
    return found


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vaultform")
def main_group() -> None:
    """Plan and apply a whole Vault / OpenBao setup from one YAML spec."""


for _command in _commands():
    main_group.add_command(_command)


def main(argv: Optional[Sequence[str]] = None) -> None:
    try:
        main_group.main(args=argv, prog_name="vaultform", standalone_mode=False)
    except click.exceptions.Abort:
        out("Aborted.", err=True)
        sys.exit(EXIT_ERROR)
    except click.exceptions.ClickException as exc:
        # Usage errors exit 1 like every other error: 2 means "changes" to --detailed-exitcode.
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            out(ctx.get_help(), err=True)  # bare `vaultform`: the help, not an "Error: Usage: ..." blob
            sys.exit(EXIT_ERROR)
        hint = f" (see '{ctx.command_path} --help')" if isinstance(exc, click.UsageError) and ctx is not None else ""
        out(f"Error: {exc.format_message()}{hint}", err=True)
        sys.exit(EXIT_ERROR)
    except SystemExit:
        raise
