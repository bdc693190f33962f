"""vaultform show PLANFILE: render a plan saved by `plan --out`, without Vault."""

from __future__ import annotations

import click

from vaultform import planfile
from vaultform.commands.common import colour, debug_option, handle_errors, no_colour_option, out
from vaultform.commands.plan import format_option
from vaultform.errors import VaultformError
from vaultform.render.formats import JSON, TEXT, render_plan_as
from vaultform.render.json_plan import dump
from vaultform.render.saved import plan_from_document


@click.command()
@click.argument("plan_file", metavar="PLANFILE", type=click.Path(dir_okay=False))
@format_option
@no_colour_option
@debug_option
@handle_errors
def show(plan_file: str, output_format: str, debug: bool) -> None:
    """Show a plan saved by `plan --out` (no Vault is contacted)."""
    saved = planfile.load(plan_file)
    if saved is None:
        raise VaultformError(f"{plan_file} is not a plan saved by `vaultform plan --out` "
                             "(to plan a spec, run `vaultform plan SPEC`)")
    document = saved.document["plan"]
    if output_format == JSON:
        out(dump(document), nl=False)  # the document exactly as saved
        return
    the_plan = plan_from_document(document)
    if output_format == TEXT:
        out(f"Saved plan {plan_file}, made at {saved.created_at} from {saved.document['spec'].get('path')}. "
            f"`vaultform apply {plan_file}` applies exactly this, or refuses it if anything moved since "
            "or the file was edited (checked with the key in Vault).")
        out()
    out(render_plan_as(output_format, the_plan, document.get("vault_address") or "", colour()), nl=False)


COMMAND = show
