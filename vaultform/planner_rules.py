"""One rule of the planner's least-privilege policy: a path, the one
capability `plan` uses there, and why. Kinds say which rules their objects
need (Kind.planner_rules); planner_policy.py assembles and renders them."""

from __future__ import annotations

from dataclasses import dataclass

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
