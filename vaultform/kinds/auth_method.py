"""auth_method.<path>: an auth method mount (sys/auth)."""

from __future__ import annotations

from typing import List

from vaultform.errors import PermissionDenied
from vaultform.kinds.base import KindDoc
from vaultform.kinds.mounts import COMMON_TUNING_DEFAULTS, MountKind


class AuthMethod(MountKind):
    name = "auth_method"
    rank = 30
    table = "auth"
    section = "auth"
    counted_as = ("auth method", "auth methods")
    tune_key = "tune"
    prune_key = "auth_methods"
    builtins = frozenset({"token"})
    section_schema = {
        "type": "object",
        "description": "Auth methods keyed by mount path.",
        "propertyNames": {"$ref": "common.schema.json#/$defs/mount_path"},
        "additionalProperties": {"$ref": "auth-method.schema.json"},
    }
    doc = KindDoc("auth.<path>", "sys/auth/<path>", "an auth method mount with its tuning; disabling it destroys "
                  "its config, roles and every token it issued", address="auth_method.<path>")
    tuning_defaults = {"default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": False,
                       "token_type": "default-service", **COMMON_TUNING_DEFAULTS}

    def destroy_notes(self, ctx, res) -> List[str]:
        where, what = self._named_objects(ctx, res)
        try:
            roles = ctx.api.list(f"auth/{res.id}/{where}")
        except PermissionDenied:  # a least-privilege planner token may not list roles: still plan
            res.meta["contents"] = {"what": what, "count": None, "names": None}
            return [f"disabling auth/{res.id}/ destroys its config, its {what[:-3]}s and every token it issued"]
        # For a saved plan to check at apply time (planfile.py), like a KV mount's secrets.
        res.meta["contents"] = {"what": what, "count": str(len(roles)), "names": sorted(roles)}
        return [f"disabling auth/{res.id}/ destroys its config, {len(roles)} {what} and every token it issued"]

    @staticmethod
    def _named_objects(ctx, res) -> tuple:
        """Where this method keeps its named objects and what they are called:
        userpass users/, cert certs/, every other type role/."""
        from vaultform.kinds.auth_objects import AuthRole  # late: it imports the registry
        from vaultform.kinds import registry

        auth_type = (ctx.auth_mounts().get(res.id) or {}).get("type")
        kind = next((k for k in registry() if isinstance(k, AuthRole) and k.auth_type == auth_type), None)
        names = {"users": "user(s)", "certs": "certificate(s)"}
        return (kind.role_dir, names.get(kind.role_dir, "role(s)")) if kind else ("role", "role(s)")


KINDS = [AuthMethod()]
