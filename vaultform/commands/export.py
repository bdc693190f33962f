"""vaultform export: write a spec for what a live Vault holds, so plan against it is empty."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple

import click

from vaultform.commands.common import address_option, build_context, debug_option, handle_errors, out
from vaultform.spec import Spec
from vaultform.yamlpos import load_located


@click.command()
@click.option("--output", "output", metavar="SPEC", type=click.Path(dir_okay=False),
              help="Write the spec to SPEC (default: stdout).")
@click.option("--include", "include", multiple=True, metavar="KIND",
              help="Only this section or kind (secrets_engines, auth, policies, secrets, identity, token_roles, audit, "
                   "namespaces; or a kind name such as audit_device or namespace). "
                   "Repeatable.")
@click.option("--secret-values-to", "secret_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Write each secret value to a 0600 file under DIR (0700, refused if others can read it) and "
                   "reference it with {file: ...}; without it, secrets become {env: ...} placeholders.")
@address_option
@debug_option
@handle_errors
def export(output: Optional[str], include: Tuple[str, ...], secret_dir: Optional[str], address, debug: bool) -> None:
    """Write a spec for what a live Vault holds (plan against it is empty)."""
    from vaultform import export as exporting  # the kinds load only when a command needs them
    from vaultform.connection import resolve_address
    from vaultform.errors import VaultConnectionError

    wanted = exporting.sections_for(include)
    if not resolve_address(address, None, None):
        # There is no spec to point at: the one below is a stand-in.
        raise VaultConnectionError("no Vault address: pass --address, or set VAULT_ADDR (or BAO_ADDR)")
    spec_path = Path(output).resolve() if output else Path.cwd() / "exported.yaml"
    empty = Spec(path=spec_path, doc=load_located("version: 1\n", str(spec_path)))
    ctx = build_context(empty, address)
    ctx.ensure_token()
    directory = exporting.private_dir(secret_dir) if secret_dir else None
    result = exporting.export(ctx, wanted, directory, spec_path.parent)
    text = exporting.render(result, ctx.api.address)
    if output:
        temporary = spec_path.with_name(spec_path.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, spec_path)
        out(f"Wrote {output} ({exporting.counts(result)}).", err=True)
    else:
        out(text, nl=False)


COMMAND = export
