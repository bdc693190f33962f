"""token_role.<name>: token store roles (auth/token/roles/<name>), from the
top-level `token_roles:` section.

Defaults were read back from OpenBao 2.7.2 for a role written with no fields.
Vault keeps the policy lists and allowed_entity_aliases as sets (lower-cased
policies, sorted, no duplicates) and returns the legacy period,
explicit_max_ttl and bound_cidrs beside their token_* names; token_bound_cidrs
and token_num_uses only while they hold a value. A write merges.
"""

from __future__ import annotations

from typing import List

from vaultform.kinds.auth_objects import AuthObjectKind
from vaultform.kinds.base import KindDoc
from vaultform.planner_rules import named_object_rules
from vaultform.model import Resource

POLICY_LISTS = frozenset({"allowed_policies", "disallowed_policies", "allowed_policies_glob",
                          "disallowed_policies_glob"})


class TokenRole(AuthObjectKind):
    name = "token_role"
    auth_type = "token"
    rank = 40
    prune_key = "token_roles"
    mount_section = None  # a top-level section, not inside an auth method
    section = "token_roles"
    counted_as = ("token role", "token roles")
    section_schema = {"type": "object", "description": "Token store roles (auth/token/roles/<name>) keyed by name.",
                      "additionalProperties": {"$ref": "token-role.schema.json"}}
    doc = KindDoc("token_roles.<name>", "auth/token/roles/<name>",
                  "a token store role: allowed policies, orphan, period, token fields", address="token_role.<name>")

    @property
    def mount_type(self):  # type: ignore[override]
        return None

    segment = "roles"
    defaults = {"allowed_entity_aliases": [], "allowed_policies": [], "allowed_policies_glob": [],
                "disallowed_policies": [], "disallowed_policies_glob": [], "orphan": False, "path_suffix": "",
                "renewable": True, "token_bound_cidrs": [], "token_explicit_max_ttl": 0,
                "token_no_default_policy": False, "token_num_uses": 0, "token_period": 0,
                "token_type": "default-service"}
    durations = frozenset({"token_period", "token_explicit_max_ttl"})
    lists = frozenset({"token_bound_cidrs"})
    # Measured: allowed_entity_aliases ["Bob", "alice", "alice"] reads back
    # ["alice", "bob"], lower-cased like the policy lists.
    policy_lists = POLICY_LISTS | {"allowed_entity_aliases"}
    unordered = POLICY_LISTS | {"allowed_entity_aliases"}
    aliases = {"period": "token_period", "explicit_max_ttl": "token_explicit_max_ttl",
               "bound_cidrs": "token_bound_cidrs"}

    def planner_rules(self, spec, wildcards):
        return named_object_rules("auth/token/roles", spec.section("token_roles"), "token_role", "token_roles",
                                  spec.prune("token_roles"), wildcards, "token role", "token roles",
                                  "token roles"), []

    @staticmethod
    def path(name: str) -> str:
        return f"auth/token/roles/{name}"

    def resources(self, spec, ctx) -> List[Resource]:
        out = []
        for role, fields in spec.section("token_roles").items():
            desired = self.desired_from(spec, ("token_roles", role), fields or {}, "token")
            res = Resource(kind=self, address=f"token_role.{role}", id=role, desired=desired,
                           location=spec.key_loc("token_roles", role),
                           meta={"path": self.path(role), "record": {}})
            out.append(self.new_resource(res, fields or {}, "token"))
        return out

    def from_record(self, address, entry):
        res = super().from_record(address, entry)
        res.meta["path"] = self.path(res.id)
        return res

    def update(self, ctx, res, live, changes) -> None:
        # The write merges: every field is sent, so a field dropped from the
        # spec goes back to its default.
        ctx.api.write(res.meta["path"], res.desired)

    def discover(self, ctx) -> List[Resource]:
        return [Resource(kind=self, address=f"token_role.{role}", id=role, meta={"path": self.path(role)})
                for role in ctx.api.list("auth/token/roles")]


KINDS = [TokenRole()]
