"""vaultform planner-policy SPEC: the least-privilege policy for `plan`."""

from __future__ import annotations

import click

from vaultform.commands.common import SPEC_ARGUMENT, debug_option, handle_errors, out, print_warnings
from vaultform.planner_policy import planner_policy as make_policy
from vaultform.planner_policy import render_hcl
from vaultform.loading import load_spec


@click.command(name="planner-policy")
@SPEC_ARGUMENT
@click.option("--wildcards", is_flag=True,
              help="One glob per kind of object under the spec's mounts, so the policy also plans "
                   "objects added to the spec later (still no read of secret data).")
@debug_option
@handle_errors
def planner_policy(spec_file: str, wildcards: bool, debug: bool) -> None:
    """Print the smallest Vault policy (HCL) that `vaultform plan SPEC` needs.

    Offline: no Vault is contacted and no value source is read. A token with
    only this policy plans without being able to read any secret's data.
    """
    spec = load_spec(spec_file)
    print_warnings(spec)
    rules, notes = make_policy(spec, wildcards=wildcards)
    out(render_hcl(rules, notes, spec_file, wildcards=wildcards), nl=False)


COMMAND = planner_policy
