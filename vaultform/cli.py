"""The command line: the group, its commands, and the top-level error guard.

Each command lives in its own module under vaultform/commands/.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import click

from vaultform import __version__, commands
from vaultform.errors import EXIT_ERROR


class LazyGroup(click.Group):
    """Every module in vaultform/commands that defines COMMAND adds one, named
    after the module (planner_policy -> planner-policy). A module is imported
    only when its command runs: `vaultform --help` reads the commands'
    one-line help from their source, so it starts without hvac, jsonschema or
    the Kubernetes client."""

    def _modules(self) -> Dict[str, str]:
        return {info.name.replace("_", "-"): info.name for info in pkgutil.iter_modules(commands.__path__)
                if info.name != "common" and not info.name.startswith("_")}

    def list_commands(self, ctx: click.Context) -> List[str]:
        return sorted(self._modules())

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        module = self._modules().get(name)
        if module is None:
            return None
        return getattr(importlib.import_module(f"{commands.__name__}.{module}"), "COMMAND", None)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        modules = sorted(self._modules().items())
        limit = formatter.width - 6 - max(len(name) for name, _ in modules)  # as click's own listing
        rows = [(name, click.utils.make_default_short_help(_short_help(module), limit)) for name, module in modules]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _short_help(module: str) -> str:
    """The first line of the command function's docstring, without importing it."""
    path = Path(commands.__file__).with_name(f"{module}.py")
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and any(
                "command" in ast.unparse(d) for d in node.decorator_list):
            doc = ast.get_docstring(node) or ""
            return doc.strip().splitlines()[0] if doc.strip() else ""
    return ""


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vaultform")
def main_group() -> None:
    """Plan and apply a whole Vault / OpenBao setup from one YAML spec."""


def out(text: str = "", err: bool = False) -> None:
    from vaultform.commands.common import out as print_line  # redacts; imported only when there is output
    print_line(text, err=err)


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
