"""The smallest Vault policy that `vaultform plan` needs for a spec.

Worked out from the spec alone (offline, and without resolving any value
source): every path the planner reads, with the one capability it uses there.
Secrets get `read` on their KV v2 *metadata* only, never on their data: the
plan compares the spec's values with fingerprints kept in the ownership
record instead (kinds/kv_secret.py), so a token holding this policy can plan
without being able to read any secret value.

Exact paths, except where pruning has to find (list) and read objects the
spec does not name. With `wildcards=True`, objects under the spec's mounts
get one glob per kind instead, so a policy made from one version of the spec
still plans the next (a pull request that adds a policy, a role or a secret).
"""

from __future__ import annotations

import json
from typing import Dict, List, Tuple

from vaultform.kinds import registry
from vaultform.planner_rules import LIST, READ, Rule
from vaultform.spec import Spec

__all__ = ["LIST", "READ", "Rule", "planner_policy", "render_hcl"]


def planner_policy(spec: Spec, wildcards: bool = False) -> Tuple[List[Rule], List[str]]:
    """The rules, and notes on what a token holding them cannot see."""
    record = spec.record_location
    record_mount, record_path = record["mount"].strip("/"), record["path"].strip("/")
    rules = [
        Rule("sys/mounts", READ, "secrets engines and their KV versions"),
        Rule("sys/auth", READ, "auth methods"),
        Rule(f"{record_mount}/metadata/{record_path}/", LIST, "the ownership record: which shards exist"),
        Rule(f"{record_mount}/data/{record_path}/*", READ, "the ownership record's shards: what vaultform manages"),
        Rule(f"{record_mount}/data/{record_path}", READ, "the ownership record of vaultform 0.1 (moved into shards "
             "by the first apply)"),
        Rule(f"{record_mount}/data/{record_path}-fingerprint-key", READ,
             "HMAC key for comparing the spec's secret values with the record's fingerprints"),
    ]
    notes: List[str] = []
    for kind in registry():  # each kind knows what plan reads for its objects
        kind_rules, kind_notes = kind.planner_rules(spec, wildcards)
        rules += kind_rules
        notes += kind_notes
    # Kinds that share a path (typed and generic auth roles when pruning) say it once.
    return list(dict.fromkeys(rules)), notes


def _comment(text: str) -> str:
    # One line whatever the spec's names hold: a newline in a comment would
    # let a name add its own rules to the policy.
    return "# " + " ".join(str(text).split())


def render_hcl(rules: List[Rule], notes: List[str], spec_name: str, wildcards: bool = False) -> str:
    shape = "one glob per kind of object" if wildcards else "exact paths"
    lines = [_comment(f"vaultform planner policy for {spec_name} ({shape})."),
             "# Enough for `vaultform plan`: no write, and no read of any secret's data.",
             "# A plan reads every object in the spec and every object the ownership record",
             "# says was removed from it: make this policy from the spec last applied.",
             ""]
    lines += [_comment(f"Note: {note}") for note in notes]
    if notes:
        lines.append("")
    merged: Dict[str, List[Rule]] = {}
    for rule in rules:
        merged.setdefault(rule.path, []).append(rule)
    for path, same in merged.items():
        capabilities = sorted({r.capability for r in same})
        lines += [_comment(r.why) for r in same]
        lines.append(f"path {json.dumps(path)} {{")  # HCL strings escape like JSON ones
        lines.append("  capabilities = [" + ", ".join(f'"{c}"' for c in capabilities) + "]")
        lines.append("}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
