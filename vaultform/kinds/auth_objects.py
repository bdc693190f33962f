"""An auth method's config (auth/<path>/config) and roles (auth/<path>/role/<name>).

These classes work for any auth type, passing the spec's fields through with
Vault's own names. A module that knows a type better (kubernetes_auth.py)
subclasses them with that type's defaults, duration and list fields,
legacy aliases and write-only fields; types nobody claims are handled here
generically, compared over the declared fields only.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from vaultform import values
from vaultform.kinds.base import Kind, compare_fields
from vaultform.model import ABSENT, FieldChange, Resource
from vaultform.normalize import duration_seconds, lowered_list, string_list


# Every auth method's roles share Vault's token fields (tokenutil); Vault
# stores a token_bound_cidrs entry for one host as the bare address
# (measured on OpenBao 2.7.2: "10.0.0.5/32" reads back "10.0.0.5", "::1/128"
# as "::1"; "10.0.0.0/24" and secret_id_bound_cidrs are kept as written).
TOKEN_BOUND_CIDRS = "token_bound_cidrs"


def host_cidrs_as_addresses(value: Any) -> Any:
    if not isinstance(value, (str, list)):
        return value
    out = []
    for item in string_list(value):
        address, _, bits = item.partition("/")
        host = (bits == "32" and ":" not in address) or (bits == "128" and ":" in address)
        out.append(address if host else item)
    return out


class AuthFieldRules:
    """How one auth type's objects are normalised."""

    auth_type: Optional[str] = None           # None: every type no other kind claims
    defaults: Dict[str, Any] = {}
    durations: frozenset = frozenset()
    lists: frozenset = frozenset()
    policy_lists: frozenset = frozenset()     # lists of policy names: lower-cased like Vault does
    aliases: Dict[str, str] = {}              # legacy name -> current name
    write_only: Dict[str, str] = {}           # field -> the boolean Vault returns instead
    sensitive: frozenset = frozenset()
    sources_allowed: frozenset = frozenset()  # fields that may use {env}/{file}

    def is_duration(self, name: str) -> bool:
        if self.auth_type is None:  # unknown type: Vault's naming convention is the best guess
            return name.endswith("ttl") or name.endswith("period")
        return name in self.durations

    def normalise_field(self, name: str, value: Any) -> Any:
        if name == TOKEN_BOUND_CIDRS:
            return host_cidrs_as_addresses(value)
        if name in self.policy_lists:
            return lowered_list(value)
        if name in self.lists:
            return string_list(value)
        if self.is_duration(name) and not isinstance(value, bool):
            try:
                return duration_seconds(value)
            except ValueError:
                return value
        return value

    def canonical(self, fields: Dict[str, Any], from_vault: bool) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for name, value in fields.items():
            if from_vault and name in self.aliases and self.aliases[name] in fields:
                continue  # Vault returns both names; the current one is authoritative
            out[self.aliases.get(name, name)] = self.normalise_field(self.aliases.get(name, name), value)
        return out


def _loose(value: Any) -> Any:
    """"a,b", ["a", "b"] and ["a","b"] alike; "a" and ["a"] alike."""
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        items = string_list(value)
        return items[0] if len(items) == 1 else items
    return value


def claimed_types(ctx) -> set:
    from vaultform.kinds import registry  # late: the registry imports this module
    return {k.auth_type for k in registry() if isinstance(k, AuthObjectKind) and k.auth_type}


class AuthObjectKind(Kind, AuthFieldRules):
    spec_key = ""        # "config" or "roles"
    suffix = ""          # address prefix is <type><suffix>

    def mounts_of_type(self, spec, ctx):
        claimed = claimed_types(ctx)
        for path, body in spec.section("auth").items():
            t = body["type"]
            if (self.auth_type and t == self.auth_type) or (not self.auth_type and t not in claimed):
                yield path, body

    def prefix(self, auth_type: str) -> str:
        return f"{auth_type}{self.suffix}"

    def resolve(self, spec, field_path: tuple, name: str, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(spec, field_path + (i,), name, v) for i, v in enumerate(value)]
        if values.is_source(value):
            return values.resolve(value, spec.base_dir, spec.loc(*field_path), ".".join(map(str, field_path)),
                                  sensitive=name in self.sensitive)
        return value

    def desired_from(self, spec, field_path: tuple, body: dict) -> Dict[str, Any]:
        resolved = {k: self.resolve(spec, field_path + (k,), k, v) for k, v in body.items()}
        return {**self.defaults, **self.canonical(resolved, from_vault=False)}

    def live_from(self, res: Resource, data: Dict[str, Any]) -> Dict[str, Any]:
        live = self.canonical(data, from_vault=True)
        known = (set(self.defaults) | set(res.desired or {}) | set(self.write_only.values())
                 | set(res.meta.get("state_fields") or ()))
        return {k: v for k, v in live.items() if k in known}

    def applied_state(self, res) -> Dict[str, Any]:
        state = {k: v for k, v in super().applied_state(res).items() if k not in self.write_only}
        return {k: _loose(v) for k, v in state.items()} if self.auth_type is None else state

    def still_as_recorded(self, ctx, res, live, entry) -> bool:
        if self.auth_type is None:
            # A type nobody describes: Vault answers ["a", "b"] for "a,b".
            live = {k: _loose(v) for k, v in live.items()}
        return super().still_as_recorded(ctx, res, live, entry)

    def diff(self, ctx, res, live) -> List[FieldChange]:
        desired = {k: v for k, v in res.desired.items() if k not in self.write_only}
        if self.auth_type is None:
            # A type nobody describes: which fields are lists is only known from
            # Vault's answer, and Vault takes "a,b" for any of them.
            desired = {k: string_list(v) if isinstance(v, str) and isinstance(live.get(k), list) else v
                       for k, v in desired.items()}
        view = Resource(kind=self, address=res.address, id=res.id, desired=desired, sensitive=res.sensitive)
        changes = compare_fields(view, live, self.defaults)
        for field, flag in self.write_only.items():
            changes.extend(self._write_only_change(ctx, res, live, field, flag))
        return changes

    def _write_only_change(self, ctx, res, live, field, flag) -> List[FieldChange]:
        is_set = bool(live.get(flag))
        if field not in res.desired:
            return [FieldChange(field, "(set)", ABSENT, sensitive=True)] if is_set else []
        recorded = ((ctx.record.objects.get(res.address) or {}).get("fingerprints") or {}).get(field)
        if not is_set or recorded != ctx.record.fingerprint(ctx.api, str(res.desired[field])):
            return [FieldChange(field, "(set)" if is_set else ABSENT, "(new value)", sensitive=True)]
        return []

    def record_entry(self, ctx, res) -> dict:
        entry = super().record_entry(ctx, res)
        prints = {f: ctx.record.fingerprint(ctx.api, str(res.desired[f]))
                  for f in self.write_only if res.desired and f in res.desired}
        if prints:
            entry["fingerprints"] = prints
        return entry

    def read(self, ctx, res) -> Optional[Dict[str, Any]]:
        response = ctx.api.read(res.meta["path"])
        if not response or response.get("data") is None:
            return None
        return self.live_from(res, response["data"])

    def create(self, ctx, res) -> None:
        ctx.api.write(res.meta["path"], res.desired)

    def delete(self, ctx, res) -> None:
        ctx.api.delete(res.meta["path"])


class AuthConfig(AuthObjectKind):
    """<type>_config.<mount>; types without their own module."""

    name = "auth_config"
    rank = 40
    suffix = "_config"

    def resources(self, spec, ctx) -> List[Resource]:
        out = []
        for path, body in self.mounts_of_type(spec, ctx):
            if "config" not in body:
                continue
            desired = self.desired_from(spec, ("auth", path, "config"), body["config"])
            out.append(Resource(kind=self, address=f"{self.prefix(body['type'])}.{path}", id=path,
                                desired=desired, location=spec.key_loc("auth", path, "config"),
                                depends_on=[f"auth_method.{path}"], sensitive=set(self.sensitive),
                                meta={"path": f"auth/{path}/config", "record": {"mount": path}}))
        return out

    def from_record(self, address, entry):
        res = super().from_record(address, entry)
        res.meta["path"] = f"auth/{res.id}/config"
        return res

    def delete(self, ctx, res) -> None:
        # A config cannot be removed on its own; it goes with its auth method.
        pass

    def destroy_notes(self, ctx, res) -> List[str]:
        # Vault has no DELETE for auth/<path>/config, so "-" only means vaultform
        # stops managing it; say so rather than let the plan promise a deletion.
        method = f"auth_method.{res.id}"
        if res.id in ctx.spec.section("auth"):
            return [f"Vault cannot delete auth/{res.id}/config on its own: it stays in Vault, no longer "
                    f"managed, until {method} is disabled"]
        return [f"auth/{res.id}/config goes when {method} is disabled"]


class AuthRole(AuthObjectKind):
    """<type>_role.<mount>/<name>; types without their own module."""

    name = "auth_role"
    rank = 40
    suffix = "_role"
    prune_key = "auth_roles"
    role_dir = "role"

    def resources(self, spec, ctx) -> List[Resource]:
        out = []
        for path, body in self.mounts_of_type(spec, ctx):
            # A role is written after its method's config (Vault checks some
            # role fields against it), so a failed config skips its roles.
            deps = [f"auth_method.{path}"] + ([f"{body['type']}_config.{path}"] if "config" in body else [])
            for role, fields in (body.get("roles") or {}).items():
                desired = self.desired_from(spec, ("auth", path, "roles", role), fields)
                out.append(Resource(kind=self, address=f"{self.prefix(body['type'])}.{path}/{role}",
                                    id=f"{path}/{role}", desired=desired,
                                    location=spec.key_loc("auth", path, "roles", role),
                                    depends_on=deps, sensitive=set(self.sensitive),
                                    meta={"path": f"auth/{path}/{self.role_dir}/{role}",
                                          "record": {"mount": path}}))
        return out

    def from_record(self, address, entry):
        res = super().from_record(address, entry)
        mount, role = res.id.rsplit("/", 1)
        res.meta["path"] = f"auth/{mount}/{self.role_dir}/{role}"
        return res

    def update(self, ctx, res, live, changes) -> None:
        # Role writes merge into the stored role, so every known field is sent
        # (defaults included): a field dropped from the spec goes back to default.
        ctx.api.write(res.meta["path"], res.desired)

    def discover(self, ctx) -> List[Resource]:
        out = []
        claimed = claimed_types(ctx)
        for mount, entry in sorted(ctx.auth_mounts().items()):
            t = entry.get("type")
            if not ((self.auth_type and t == self.auth_type) or (not self.auth_type and t not in claimed)):
                continue
            if t == "token":
                continue
            for role in ctx.api.list(f"auth/{mount}/{self.role_dir}"):
                out.append(Resource(kind=self, address=f"{self.prefix(t)}.{mount}/{role}", id=f"{mount}/{role}",
                                    meta={"path": f"auth/{mount}/{self.role_dir}/{role}"}))
        return out


KINDS = [AuthConfig(), AuthRole()]
