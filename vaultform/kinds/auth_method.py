"""auth_method.<path>: an auth method mount (sys/auth)."""

from __future__ import annotations

from typing import List

from vaultform.errors import PermissionDenied, SpecError
from vaultform.kinds.mounts import COMMON_TUNING_DEFAULTS, MountKind
from vaultform.model import Resource


class AuthMethod(MountKind):
    name = "auth_method"
    rank = 30
    table = "auth"
    section = "auth"
    tune_key = "tune"
    prune_key = "auth_methods"
    builtins = frozenset({"token"})
    tuning_defaults = {"default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": False,
                       "token_type": "default-service", **COMMON_TUNING_DEFAULTS}

    def resources(self, spec, ctx) -> List[Resource]:
        for path, body in spec.section(self.section).items():
            if (body.get(self.tune_key) or {}).get("force_no_cache"):
                # OpenBao 2.7.2 ignores it on auth methods, both when enabling
                # and in tune: the plan would promise a change no apply makes.
                raise SpecError("OpenBao cannot set force_no_cache on an auth method (it ignores it when "
                                "enabling and in tune): remove it", location=spec.loc(self.section, path,
                                                                                      self.tune_key, "force_no_cache"),
                                field=f"{self.section}.{path}.{self.tune_key}.force_no_cache")
        return super().resources(spec, ctx)

    def destroy_notes(self, ctx, res) -> List[str]:
        try:
            roles = ctx.api.list(f"auth/{res.id}/role")
        except PermissionDenied:  # a least-privilege planner token may not list roles: still plan
            return [f"disabling auth/{res.id}/ destroys its config, its roles and every token it issued"]
        return [f"disabling auth/{res.id}/ destroys its config, {len(roles)} role(s) and every token it issued"]


KINDS = [AuthMethod()]
