"""What a set of ACL policies allows on a path, worked out the way Vault does.

Vault can only tell the capabilities of a *token* (sys/capabilities), and a
token can only carry policies that are stored. `plan --test` asks about the
policies a plan is about to write, so it needs its own answer: this module
follows OpenBao's ACL (internal/vault/policy/acl.go: NewACL, Capabilities,
CheckAllowedFromNonExactPaths; policy.go: parsePaths) rule for rule:

- Rules for the same path merge across policies: capabilities add up, and a
  `deny` anywhere wins over everything else for that path.
- An exact rule beats everything; `capabilities = []` is an exact rule too
  (it denies). Then, as Vault answers sys/capabilities like a LIST request,
  the path without one trailing "/".
- Otherwise the best of the glob rules (`foo/*`, longest prefix) and the
  segment-wildcard rules (`foo/+/bar`, `foo/+/ba*`), ranked: the later first
  wildcard or glob, then not-a-glob, then fewer `+`, then the longer path.
- Nothing matched: deny. The `root` policy allows everything.

Identity-templated paths ({{identity.entity.id}}) are skipped, as Vault skips
them for a token without an entity (the tokens `vaultform test` makes have
none). Expired paths (`expiration`) are skipped too. The cross-check against a
real server is tests/test_access_tests.py::test_evaluator_agrees_with_openbao.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, Iterable, List, Optional, Tuple

DENY, ROOT = "deny", "root"
CAPABILITIES = ("create", "read", "update", "delete", "list", "patch", "sudo", "scan")
# Vault's legacy `policy = "..."` field, mapped as policy.go maps it.
_LEGACY = {"deny": (DENY,), "read": ("read", "list"),
           "write": ("create", "read", "update", "delete", "list"),
           "sudo": ("create", "read", "update", "delete", "list", "sudo")}


class PolicyNotEvaluable(ValueError):
    """A policy text this module cannot read (Vault would refuse it too)."""


@dataclass
class _Perms:
    capabilities: frozenset  # {DENY} alone when denied; empty means no capability (which denies)

    def merge(self, other: frozenset) -> None:
        if DENY in self.capabilities:
            return
        self.capabilities = frozenset({DENY}) if DENY in other else self.capabilities | other


def _unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _expired(raw) -> bool:
    text = str(_unquote(raw)).strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False  # a form this reader does not know: keep the rule rather than guess it away
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc) > when


def path_rules(text: str) -> List[Tuple[str, frozenset]]:
    """(path as written, capabilities) for each path block of a policy text."""
    from vaultform.checks import PolicyParseError, parse_policy  # the spec's own policy reader

    try:
        _top, blocks = parse_policy(text)
    except PolicyParseError as exc:
        raise PolicyNotEvaluable(str(exc)) from None
    rules = []
    for path, body in blocks:
        if not isinstance(body, dict) or "{{" in path:
            continue
        if "expiration" in body and _expired(body["expiration"]):
            continue
        names = [_unquote(c) for c in (body.get("capabilities") or [])]
        legacy = _unquote(body.get("policy")) if body.get("policy") is not None else None
        if legacy is not None:
            if legacy not in _LEGACY:
                raise PolicyNotEvaluable(f"path {path!r}: invalid policy {legacy!r}")
            names += list(_LEGACY[legacy])
        for name in names:
            if name != DENY and name not in CAPABILITIES:
                raise PolicyNotEvaluable(f"path {path!r}: invalid capability {name!r}")
        rules.append((path, frozenset({DENY}) if DENY in names else frozenset(names)))
    return rules


def _has_segment_wildcards(path: str) -> bool:
    return path == "+" or "/+" in path or path.startswith("+/")


@dataclass
class _Candidate:
    first_wildcard: int
    is_prefix: bool
    wildcards: int
    path: str
    perms: _Perms

    def rank(self) -> tuple:
        # Ascending = lower priority, as acl.go's `less`; the highest wins.
        return (self.first_wildcard, 0 if self.is_prefix else 1, -self.wildcards, len(self.path), self.path)


class ACL:
    """The merged rules of several policies (by text), like Vault's NewACL."""

    def __init__(self, policies: Iterable[Tuple[str, str]]):
        self.root = False
        self.exact: Dict[str, _Perms] = {}
        self.prefix: Dict[str, _Perms] = {}
        self.segment: Dict[str, _Perms] = {}
        for name, text in policies:
            if name == ROOT:
                self.root = True
                continue
            for path, capabilities in path_rules(text):
                self._add(path, capabilities)

    def _add(self, path: str, capabilities: frozenset) -> None:
        if path.startswith("/"):
            path = path[1:]
        if _has_segment_wildcards(path):
            table = self.segment
        elif path.endswith("*"):
            table, path = self.prefix, path[:-1]
        else:
            table = self.exact
        if path in table:
            table[path].merge(capabilities)
        else:
            table[path] = _Perms(capabilities)

    def capabilities(self, path: str) -> List[str]:
        """What sys/capabilities answers for `path`: sorted, ["deny"] when nothing."""
        if self.root:
            return [ROOT]
        perms = self._permissions(path.lstrip("/"))
        allowed = sorted(perms.capabilities) if perms is not None else []
        return [DENY] if not allowed or DENY in allowed else allowed

    def _permissions(self, path: str) -> Optional[_Perms]:
        if path in self.exact:
            return self.exact[path]
        trimmed = path[:-1] if path.endswith("/") else path
        if trimmed in self.exact:  # sys/capabilities checks as a LIST request does
            return self.exact[trimmed]
        found = self._non_exact(path)
        if found is None and path.endswith("/"):
            found = self._non_exact(trimmed)
        return found

    def _non_exact(self, path: str) -> Optional[_Perms]:
        candidates: List[_Candidate] = []
        prefixes = [p for p in self.prefix if path.startswith(p)]
        if prefixes:
            longest = max(prefixes, key=len)
            if not self.segment:
                return self.prefix[longest]
            candidates.append(_Candidate(len(longest), True, 0, longest, self.prefix[longest]))
        parts = path.split("/")
        for full, perms in self.segment.items():
            if full == "":
                continue
            is_prefix = full.endswith("*")
            pattern = full[:-1] if is_prefix else full
            pieces = pattern.split("/")
            if len(parts) < len(pieces) or (not is_prefix and len(parts) != len(pieces)):
                continue
            wildcards = 0
            for i, piece in enumerate(pieces):
                if piece == "+":
                    wildcards += 1
                elif piece == parts[i]:
                    pass
                elif is_prefix and i == len(pieces) - 1 and parts[i].startswith(piece):
                    pass
                else:
                    break
            else:
                candidates.append(_Candidate(full.index("+"), is_prefix, wildcards, pattern, perms))
        if not candidates:
            return None
        return max(candidates, key=_Candidate.rank).perms


def capabilities(policies: Iterable[Tuple[str, str]], paths: Iterable[str]) -> Dict[str, List[str]]:
    acl = ACL(policies)
    return {path: acl.capabilities(path) for path in paths}
