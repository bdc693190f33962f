"""One rule of the planner's least-privilege policy: a path, the one
capability `plan` uses there, and why. Kinds say which rules their objects
need (Kind.planner_rules); planner_policy.py assembles and renders them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List

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


def named_object_rules(base: str, names: Iterable[str], address: str, prune_key: str, prune: bool,
                       wildcards: bool, one: str, many: str, many_later: str) -> List[Rule]:
    """The rules for objects named directly under one API directory
    (sys/policies/acl/<name>, auth/token/roles/<name>): the exact paths; one
    glob with `wildcards`; and when pruning, the listing that finds objects
    the spec does not name and the reads that show what goes."""
    if prune:
        return [Rule(f"{base}/", LIST, f"prune.{prune_key}: find {many} not in the spec"),
                Rule(f"{base}/*", READ, f"prune.{prune_key}: every {one}, in the spec or not")]
    if wildcards:
        return [Rule(f"{base}/*", READ, f"{many_later}, including ones added to the spec later")]
    return [Rule(f"{base}/{name}", READ, f"{address}.{name}") for name in sorted(names)]
