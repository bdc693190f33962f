"""Semantic checks the JSON Schema cannot express. All run offline.

Problems are errors (the spec cannot work); warnings are things that may be
fine (a role naming a policy that exists only in Vault).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Tuple

import hcl2

from vaultform import values
from vaultform.errors import Location, SpecError
from vaultform.spec import Spec, Warning_

# Measured against OpenBao 2.7.2: these parse, anything else is a 400.
CAPABILITIES = frozenset({"deny", "create", "read", "update", "patch", "delete", "list", "sudo", "scan"})


def semantic_problems(spec: Spec) -> Tuple[List[SpecError], List[Warning_]]:
    problems: List[SpecError] = []
    warnings: List[Warning_] = []
    _check_cluster(spec, problems)
    _check_policies(spec, problems)
    _check_role_policies(spec, warnings)
    _check_kubernetes_issuer(spec, warnings)
    _check_sources(spec, problems, warnings)
    return problems, warnings


def _check_cluster(spec: Spec, problems: List[SpecError]) -> None:
    init = (spec.cluster or {}).get("init") or {}
    shares, threshold = init.get("key_shares", 5), init.get("key_threshold", 3)
    if threshold > shares:
        problems.append(SpecError(f"key_threshold ({threshold}) is above key_shares ({shares})",
                                  location=spec.loc("cluster", "init", "key_threshold"),
                                  field="cluster.init.key_threshold"))
    if shares > 1 and threshold == 1:
        pass  # legal, if unwise; Vault allows it


def _policy_line(spec: Spec, name: str, hcl_line: int) -> Location:
    """Spec location of a line inside a policy block scalar."""
    start = spec.loc("policies", name)
    # A block scalar (|) starts on the line after its indicator.
    offset = 1 if spec.doc.positions.get(("policies", name)) else 0
    return Location(start.file, start.line + offset + max(hcl_line - 1, 0), start.column)


def _check_policies(spec: Spec, problems: List[SpecError]) -> None:
    seen = {}
    for name, text in spec.section("policies").items():
        where = spec.key_loc("policies", name)
        if name != name.lower():
            problems.append(SpecError(f"policy names are case-insensitive and Vault stores them lower-cased; "
                                      f"write {name.lower()!r}", location=where, field=f"policies.{name}"))
        if name.lower() in seen:
            problems.append(SpecError(f"collides with policy {seen[name.lower()]!r} (names are case-insensitive)",
                                      location=where, field=f"policies.{name}"))
        seen.setdefault(name.lower(), name)
        if name.lower() == "root":
            problems.append(SpecError("the root policy is built in and cannot be written", location=where,
                                      field=f"policies.{name}"))
        try:
            parsed = hcl2.loads(text if text.endswith("\n") else text + "\n")
        except Exception as exc:  # the parser raises several lark error types
            line = getattr(exc, "line", 1) or 1
            detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            problems.append(SpecError(f"policy is not valid HCL: {detail}", location=_policy_line(spec, name, line),
                                      field=f"policies.{name}"))
            continue
        for block in parsed.get("path", []) or []:
            for raw_path, body in block.items():
                caps = body.get("capabilities", []) if isinstance(body, dict) else []
                for cap in caps if isinstance(caps, list) else [caps]:
                    cap = str(cap).strip('"')
                    if cap not in CAPABILITIES:
                        problems.append(SpecError(
                            f"path {raw_path}: invalid capability {cap!r} (valid: {', '.join(sorted(CAPABILITIES))})",
                            location=spec.loc("policies", name), field=f"policies.{name}"))


def _check_role_policies(spec: Spec, warnings: List[Warning_]) -> None:
    defined = {n.lower() for n in spec.section("policies")} | {"default"}
    for mount, body in spec.section("auth").items():
        for role, fields in (body.get("roles") or {}).items():
            for key in ("token_policies", "policies"):
                names = fields.get(key)
                if names is None:
                    continue
                names = names.split(",") if isinstance(names, str) else names
                for policy in names:
                    if str(policy).strip().lower() not in defined:
                        warnings.append(Warning_(f"policy {policy!r} is not defined in this spec (it may exist in Vault)",
                                                 location=spec.loc("auth", mount, "roles", role, key),
                                                 field=f"auth.{mount}.roles.{role}.{key}"))


def _check_kubernetes_issuer(spec: Spec, warnings: List[Warning_]) -> None:
    """OpenBao and Vault (since 1.9) default disable_iss_validation to true:
    an `issuer` alone is stored and never checked (measured: a JWT from any
    other issuer still logs in). Say so, since the tutorial sets it to have it checked."""
    for mount, body in spec.section("auth").items():
        config = body.get("config") or {}
        if body.get("type") == "kubernetes" and config.get("issuer") and "disable_iss_validation" not in config:
            warnings.append(Warning_("the issuer is not checked unless disable_iss_validation is false "
                                     "(it defaults to true); set disable_iss_validation: false to enforce it",
                                     location=spec.loc("auth", mount, "config", "issuer"),
                                     field=f"auth.{mount}.config.issuer"))


def _walk_sources(data, path):
    if values.is_source(data):
        yield path, data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from _walk_sources(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _walk_sources(v, path + (i,))


def _check_sources(spec: Spec, problems: List[SpecError], warnings: List[Warning_]) -> None:
    """Files belong to the repository and must exist; env vars may be CI-only."""
    for section in ("auth", "secrets"):
        for path, source in _walk_sources(spec.section(section), (section,)):
            kind, arg = next(iter(source.items()))
            field = ".".join(str(p) for p in path)
            if section == "secrets" and len(path) > 3:
                # Only a key's whole value is resolved; a source nested deeper
                # would be written to Vault literally as {"env": ...}.
                problems.append(SpecError("a value source must be the whole value of a secret key, not nested "
                                          "inside a list or mapping", location=spec.loc(*path), field=field))
                continue
            if kind == "file":
                target = Path(arg) if Path(arg).is_absolute() else spec.base_dir / arg
                if not target.is_file():
                    problems.append(SpecError(f"file {target} does not exist", location=spec.loc(*path), field=field))
            elif kind == "env" and arg not in os.environ:
                warnings.append(Warning_(f"environment variable {arg} is not set here; plan and apply need it",
                                         location=spec.loc(*path), field=field))
