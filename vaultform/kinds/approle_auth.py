"""approle_role.<mount>/<name>: AppRole roles (auth/<mount>/role/<name>).

AppRole has no config object. Defaults below were read back from OpenBao
2.7.2 for a role written with no fields at all; a field missing from the spec
is compared with (and reset to) them.

role_id is write-only here (write_only.py): the role's own read leaves it
out, so a fixed role_id is compared by fingerprint. Left out of the spec,
Vault keeps whatever role_id the role has (a random one when it was made).
Secret IDs are credentials, made at role/<name>/secret-id by whoever logs
in; vaultform does not manage them.
"""

from __future__ import annotations

from typing import List

from vaultform.kinds.base import KindDoc
from vaultform.kinds.auth_objects import TOKEN_DEFAULTS, TOKEN_DURATIONS, AuthRole


class AppRoleRole(AuthRole):
    name = "approle_role"
    auth_type = "approle"
    spec_key_schema = {"additionalProperties": {"$ref": "approle-auth.schema.json#/$defs/role"}}
    doc = KindDoc("auth.<path>.roles.<name> (type approle)", "auth/<path>/role/<name>",
                  "an AppRole role: token fields, secret_id_ttl, bind_secret_id, CIDRs, a fixed role_id",
                  address="approle_role.<path>/<name>")
    defaults = {"bind_secret_id": True, "local_secret_ids": False, "secret_id_bound_cidrs": [],
                "secret_id_num_uses": 0, "secret_id_ttl": 0, **TOKEN_DEFAULTS}
    durations = TOKEN_DURATIONS | {"secret_id_ttl"}
    lists = frozenset({"secret_id_bound_cidrs", "token_bound_cidrs"})
    # Compared as a set (auth_objects.unordered): the legacy `policies` reads
    # back sanitised (measured: "b,A" as ["a", "b"]), token_policies as written.
    policy_lists = frozenset({"token_policies"})
    unordered = frozenset({"token_policies"})
    # The legacy names AppRole takes (path_role.go): no ttl/max_ttl/num_uses here.
    aliases = {"policies": "token_policies", "period": "token_period", "bound_cidr_list": "secret_id_bound_cidrs"}
    # "This can only be set during role creation and once set, it can't be
    # reset later" (Vault's API docs): a change makes the role again.
    replace_fields = frozenset({"local_secret_ids"})

    def update(self, ctx, res, live, changes) -> None:
        # Measured: any role write that carries local_secret_ids after
        # creation is refused ("local_secret_ids can only be modified during
        # role creation"), even with the value it has. A change of it
        # re-creates the role instead, so an update leaves it out.
        ctx.api.write(res.meta["path"], {k: v for k, v in res.desired.items() if k != "local_secret_ids"})

    def _write_only_change(self, ctx, res, live, field, flag, recorded):
        # A role_id dropped from the spec is not taken back: Vault has no
        # "unset" for it and keeps the one the role has. Planning a removal
        # would promise what apply cannot do; the record just forgets it.
        if field == "role_id" and field not in res.desired:
            return []
        return super()._write_only_change(ctx, res, live, field, flag, recorded)

    def destroy_notes(self, ctx, res) -> List[str]:
        # Deleted (or made again for local_secret_ids), the role loses every
        # secret ID issued for it, and a role_id the spec does not fix.
        return [f"every secret ID of {res.id} stops working; clients need new ones"
                + ("" if "role_id" in (res.desired or {}) else ", and a new role_id")]


KINDS = [AppRoleRole()]
