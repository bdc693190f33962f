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
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from vaultform.errors import SpecError
from vaultform.kinds import registry
from vaultform.kinds.auth_objects import AuthRole
from vaultform.kinds.mounts import kv_version
from vaultform.spec import Spec

READ, LIST = "read", "list"
# A LIST request's path ends in "/" (auth/k8s/role/), and a `+` segment
# matches an empty one: without the "/" on list rules, a glob rule for the
# objects below (auth/+/role/+, read only) would be the better match and
# refuse the listing. Measured on OpenBao 2.7.2.


@dataclass(frozen=True)
class Rule:
    path: str
    capability: str
    why: str


def _role_dir(auth_type: str) -> str:
    roles = [k for k in registry() if isinstance(k, AuthRole)]
    claimed = next((k for k in roles if k.auth_type == auth_type), None)
    generic = next((k for k in roles if k.auth_type is None), None)
    return (claimed or generic).role_dir if (claimed or generic) else "role"


def secret_mount(spec: Spec, key: str) -> Tuple[str, str, Optional[str]]:
    """(mount, path, KV version or None when unknown offline) of a `secrets:` key.

    The planner splits on mounts it reads from Vault too; offline only the
    spec's own mounts are known, so anything else splits at the first segment.
    """
    engines = spec.section("secrets_engines")
    parts = key.split("/")
    for i in range(len(parts) - 1, 0, -1):
        mount = "/".join(parts[:i])
        if mount in engines:
            body = engines[mount]
            version = kv_version(body["type"], body.get("options"))
            if version is None:
                raise SpecError(f"{mount}/ is not a KV mount", location=spec.key_loc("secrets", key),
                                field=f"secrets.{key}")
            return mount, "/".join(parts[i:]), version
    return parts[0], "/".join(parts[1:]), None


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
    rules += _policy_rules(spec, wildcards)
    rules += _auth_rules(spec, wildcards)
    secret_rules, notes = _secret_rules(spec, wildcards)
    return rules + secret_rules + _kind_rules(spec, wildcards), notes


def _kind_rules(spec: Spec, wildcards: bool) -> List[Rule]:
    """Rules a kind declares for itself (objects inside secrets engines)."""
    return [Rule(path, capability, why) for kind in registry() if hasattr(kind, "planner_rules")
            for path, capability, why in kind.planner_rules(spec, wildcards)]


def _policy_rules(spec: Spec, wildcards: bool) -> List[Rule]:
    if spec.prune("policies"):
        # Pruning finds policies the spec does not name, and reads them to show what goes.
        return [Rule("sys/policies/acl/", LIST, "prune.policies: find policies not in the spec"),
                Rule("sys/policies/acl/*", READ, "prune.policies: every policy, in the spec or not")]
    if wildcards:
        return [Rule("sys/policies/acl/*", READ, "ACL policies, including ones added to the spec later")]
    return [Rule(f"sys/policies/acl/{name}", READ, f"policy.{name}") for name in sorted(spec.section("policies"))]


def _auth_rules(spec: Spec, wildcards: bool) -> List[Rule]:
    rules: List[Rule] = []
    prune = spec.prune("auth_roles")
    for path, body in sorted(spec.section("auth").items()):
        auth_type, role_dir = body["type"], _role_dir(body["type"])
        if "config" in body or wildcards:
            rules.append(Rule(f"auth/{path}/config", READ, f"{auth_type}_config.{path}"))
        if wildcards or (prune and "/" in path):
            # `+` is one path segment: the roles themselves, nothing below them.
            rules.append(Rule(f"auth/{path}/{role_dir}/+", READ, f"{auth_type} roles of auth/{path}/"))
        elif not prune:  # else auth/+/role/+ below covers them
            rules += [Rule(f"auth/{path}/{role_dir}/{role}", READ, f"{auth_type}_role.{path}/{role}")
                      for role in sorted(body.get("roles") or {})]
        if prune and "/" in path:  # auth/+/role below covers one-segment mount paths only
            rules.append(Rule(f"auth/{path}/{role_dir}/", LIST, "prune.auth_roles: find roles not in the spec"))
    if prune:
        # Pruning lists (and reads) the roles of every auth method in Vault, in the spec or not.
        rules.append(Rule("auth/+/role/", LIST, "prune.auth_roles: find roles not in the spec"))
        rules.append(Rule("auth/+/role/+", READ, "prune.auth_roles: every role, in the spec or not"))
    return rules


def _secret_rules(spec: Spec, wildcards: bool) -> Tuple[List[Rule], List[str]]:
    rules: List[Rule] = []
    notes: List[str] = []
    per_mount: Dict[str, Rule] = {}
    for key in sorted(spec.section("secrets")):
        mount, path, version = secret_mount(spec, key)
        if version == "1":
            notes.append(f"secret.{key} is KV v1, which keeps no metadata: changes made to it in Vault "
                         "cannot be seen with this policy (changes in the spec can)")
            continue
        assumed = "" if version else f" ({mount}/ is not in secrets_engines: assumed KV v2)"
        if wildcards:
            per_mount.setdefault(mount, Rule(f"{mount}/metadata/*", READ,
                                             f"metadata (never data) of the secrets in {mount}/{assumed}"))
        else:
            rules.append(Rule(f"{mount}/metadata/{path}", READ, f"secret.{key}: metadata only, never data{assumed}"))
    return rules + list(per_mount.values()), notes


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
