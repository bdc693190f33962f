"""policy.<name>: an ACL policy (sys/policies/acl/<name>).

Vault stores the text byte for byte and bumps the version on every write, so
the text is compared exactly and only written when it differs.
"""

from __future__ import annotations

from typing import List, Optional

from vaultform.kinds.base import Kind, KindDoc
from vaultform.model import Resource
from vaultform.planner_rules import named_object_rules

BUILTIN_POLICIES = frozenset({"root", "default"})


class Policy(Kind):
    name = "policy"
    rank = 50
    prune_key = "policies"
    section = "policies"
    counted_as = ("policy", "policies")
    section_schema = {"type": "object", "description": "ACL policies: name -> HCL text.",
                      "additionalProperties": {"$ref": "policy.schema.json"}}
    doc = KindDoc("policies.<name>", "sys/policies/acl/<name>",
                  "an ACL policy as HCL text; compared byte for byte, checked offline (keys, capabilities)",
                  address="policy.<name>")

    def planner_rules(self, spec, wildcards):
        return named_object_rules("sys/policies/acl", spec.section("policies"), "policy", "policies",
                                  spec.prune("policies"), wildcards, "policy", "policies", "ACL policies"), []

    def checks(self, spec):
        from vaultform.checks import policy_problems  # the policy HCL checks are the bulk of checks.py
        return policy_problems(spec), []

    def resources(self, spec, ctx) -> List[Resource]:
        return [Resource(kind=self, address=f"policy.{name}", id=name, desired={"policy": text},
                         location=spec.key_loc("policies", name))
                for name, text in spec.section("policies").items()]

    def read(self, ctx, res) -> Optional[dict]:
        response = ctx.api.read(f"sys/policies/acl/{res.id}")
        if not response or not response.get("data"):
            return None
        return {"policy": response["data"].get("policy", "")}

    def listed_as(self, ctx, res):
        return "sys/policies/acl", res.id

    def create(self, ctx, res) -> None:
        ctx.api.write(f"sys/policies/acl/{res.id}", {"policy": res.desired["policy"]})

    def delete(self, ctx, res) -> None:
        ctx.api.delete(f"sys/policies/acl/{res.id}")

    def discover(self, ctx) -> List[Resource]:
        return [Resource(kind=self, address=f"policy.{name}", id=name)
                for name in sorted(ctx.api.list("sys/policies/acl")) if name not in BUILTIN_POLICIES]


KINDS = [Policy()]
