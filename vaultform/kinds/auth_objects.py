"""An auth method's config (auth/<path>/config) and roles (auth/<path>/role/<name>).

These classes work for any auth type, passing the spec's fields through with
Vault's own names. A module that knows a type better (kubernetes_auth.py)
subclasses them with that type's defaults, duration and list fields,
legacy aliases and write-only fields; types nobody claims are handled here
generically, compared over the declared fields only.

Sensitivity follows the value: a field the spec takes from a value source is
sensitive for every type, known or not, unless the type lists it as public
(write_only.PUBLIC_FROM_SOURCE: certificates). Write-only fields (Vault never
returns them; write_only.WRITE_ONLY) and sensitive fields Vault leaves out of
its answer are compared by an HMAC fingerprint kept in the ownership record,
so an unchanged secret is never planned again.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from vaultform import values
from vaultform.kinds import write_only as catalogue
from vaultform.kinds.base import Kind, KindDoc, compare_fields
from vaultform.model import ABSENT, FieldChange, Resource
from vaultform.normalize import duration_seconds, lowered_list, string_list
from vaultform.planner_rules import LIST, READ, Rule


# Every auth method's roles share Vault's token fields (tokenutil); Vault
# stores a token_bound_cidrs entry for one host as the bare address
# (measured on OpenBao 2.7.2: "10.0.0.5/32" reads back "10.0.0.5", "::1/128"
# as "::1"; "10.0.0.0/24" and secret_id_bound_cidrs are kept as written).
TOKEN_BOUND_CIDRS = "token_bound_cidrs"

# The token fields (tokenutil) as OpenBao 2.7.2 reads them back from a role,
# user or certificate written without any of them (measured for approle,
# userpass, jwt and cert: the same ten fields, the same values).
TOKEN_DEFAULTS = {"token_bound_cidrs": [], "token_explicit_max_ttl": 0, "token_max_ttl": 0,
                  "token_no_default_policy": False, "token_num_uses": 0, "token_period": 0,
                  "token_policies": [], "token_strictly_bind_ip": False, "token_ttl": 0, "token_type": "default"}
TOKEN_DURATIONS = frozenset({"token_ttl", "token_max_ttl", "token_period", "token_explicit_max_ttl"})
# Legacy names tokenutil still takes; Vault returns them beside the current
# name only while they hold a value.
TOKEN_ALIASES = {"policies": "token_policies", "ttl": "token_ttl", "max_ttl": "token_max_ttl",
                 "period": "token_period", "bound_cidrs": "token_bound_cidrs", "num_uses": "token_num_uses"}


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
    # Lists that mean a set: compared sorted and without duplicates, so order
    # is no change. Policies are: a token gets them sanitised (lower-cased,
    # sorted, deduplicated). Vault stores token_policies as written (measured:
    # ["B", "a", "a"] reads back so) but the legacy `policies` and token
    # roles' lists already sanitised; both sides are compared as the set.
    unordered: frozenset = frozenset()
    maps: frozenset = frozenset()             # mappings Vault returns as null when empty
    # Sent with every write but never returned (a flag for the write itself,
    # like jwt's skip_jwks_validation): never compared, never recorded.
    write_time: frozenset = frozenset()
    aliases: Dict[str, str] = {}              # legacy name -> current name
    write_only: Dict[str, str] = {}           # field -> the boolean Vault returns instead
    sensitive: frozenset = frozenset()

    def is_duration(self, name: str) -> bool:
        if self.auth_type is None:  # unknown type: Vault's naming convention is the best guess
            return name.endswith("ttl") or name.endswith("period")
        return name in self.durations

    def normalise_field(self, name: str, value: Any) -> Any:
        if name == TOKEN_BOUND_CIDRS:
            return host_cidrs_as_addresses(value)
        if name in self.unordered:
            items = lowered_list(value) if name in self.policy_lists else string_list(value)
            return sorted(set(items))
        if name in self.policy_lists:
            return lowered_list(value)
        if name in self.maps:
            return {} if value is None else value
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
    mount_section = "auth"
    spec_key = ""        # "config" or "roles"
    suffix = ""          # address prefix is <type><suffix>
    segment = ""         # the object's path segment, its key in the write-only catalogue

    # -- which fields are secret ------------------------------------------------
    def type_of(self, res: Resource) -> Optional[str]:
        if self.auth_type:
            return self.auth_type
        # Generic kinds serve many types; the address says which (<type><suffix>.<id>).
        prefix = res.address.split(".", 1)[0]
        return res.meta.get("auth_type") or (prefix[:-len(self.suffix)] if prefix.endswith(self.suffix) else None)

    def write_only_fields(self, res: Resource) -> Dict[str, Optional[str]]:
        """field -> the flag Vault returns instead (None: it says nothing)."""
        return {**catalogue.write_only(self.type_of(res), self.segment), **self.write_only}

    def public_fields(self, auth_type: Optional[str]) -> frozenset:
        return catalogue.public_from_source(auth_type or self.auth_type, self.segment)

    def sensitive_fields(self, res: Resource) -> frozenset:
        """Declared secret whatever the value's origin (a literal too)."""
        return frozenset(self.sensitive) | frozenset(self.write_only_fields(res))

    def fingerprinted(self, res: Resource, live: Dict[str, Any]) -> Dict[str, Optional[str]]:
        """The fields compared by fingerprint: write-only ones, and sensitive
        ones Vault leaves out of its answer (a type nobody describes)."""
        fields = self.write_only_fields(res)
        for name in res.desired or {}:
            if name not in fields and res.is_sensitive(name) and name not in live and name not in self.defaults:
                fields[name] = None
        return fields

    @property
    def mount_type(self) -> Optional[str]:  # type: ignore[override]
        return self.auth_type

    def mounts_of_type(self, spec, ctx):
        claimed = claimed_types(ctx)
        for path, body in spec.section("auth").items():
            t = body["type"]
            if (self.auth_type and t == self.auth_type) or (not self.auth_type and t not in claimed):
                yield path, body

    def prefix(self, auth_type: str) -> str:
        return f"{auth_type}{self.suffix}"

    def from_record(self, address: str, entry: dict) -> Optional[Resource]:
        res = super().from_record(address, entry)
        # Its spec entry is gone, so which fields came from a source is only
        # known from the record: the fields it keeps fingerprints of.
        res.sensitive = set(self.sensitive_fields(res)) | set(entry.get("fingerprints") or {})
        return res

    def resolve(self, spec, field_path: tuple, name: str, value: Any, public: frozenset = frozenset()) -> Any:
        if isinstance(value, list):
            return [self.resolve(spec, field_path + (i,), name, v, public) for i, v in enumerate(value)]
        if values.is_source(value):
            return values.resolve(value, spec.base_dir, spec.loc(*field_path), ".".join(map(str, field_path)),
                                  sensitive=self.aliases.get(name, name) not in public)
        return value

    def desired_from(self, spec, field_path: tuple, body: dict, auth_type: Optional[str] = None) -> Dict[str, Any]:
        public = self.public_fields(auth_type)
        resolved = {k: self.resolve(spec, field_path + (k,), k, v, public) for k, v in body.items()}
        return {**self.defaults, **self.canonical(resolved, from_vault=False)}

    def source_fields(self, body: dict, auth_type: Optional[str]) -> set:
        """Fields whose value came from a source, by their current name: they
        stay sensitive even where normalising (a list, a duration) made a
        plain value out of the Secret."""
        public = self.public_fields(auth_type)
        named = {self.aliases.get(k, k) for k, v in body.items() if values.has_source(v)}
        return {name for name in named if name not in public}

    def new_resource(self, res: Resource, body: dict, auth_type: str) -> Resource:
        res.meta["auth_type"] = auth_type
        res.sensitive = set(self.sensitive_fields(res)) | self.source_fields(body, auth_type)
        return res

    def live_from(self, res: Resource, data: Dict[str, Any]) -> Dict[str, Any]:
        live = self.canonical(data, from_vault=True)
        flags = {flag for flag in self.write_only_fields(res).values() if flag}
        known = set(self.defaults) | set(res.desired or {}) | flags | set(res.meta.get("state_fields") or ())
        return {k: v for k, v in live.items() if k in known}

    def applied_state(self, res) -> Dict[str, Any]:
        secret = self.sensitive_fields(res) | self.write_time
        state = {k: v for k, v in super().applied_state(res).items() if k not in secret}
        return {k: _loose(v) for k, v in state.items()} if self.auth_type is None else state

    def still_as_recorded(self, ctx, res, live, entry) -> bool:
        if self.auth_type is None:
            # A type nobody describes: Vault answers ["a", "b"] for "a,b".
            live = {k: _loose(v) for k, v in live.items()}
        return super().still_as_recorded(ctx, res, live, entry)

    def diff(self, ctx, res, live) -> List[FieldChange]:
        by_print = self.fingerprinted(res, live)
        desired = {k: v for k, v in res.desired.items() if k not in by_print and k not in self.write_time}
        if self.auth_type is None:
            # A type nobody describes: which fields are lists is only known from
            # Vault's answer, and Vault takes "a,b" for any of them.
            desired = {k: string_list(v) if isinstance(v, str) and isinstance(live.get(k), list) else v
                       for k, v in desired.items()}
        view = Resource(kind=self, address=res.address, id=res.id, desired=desired,
                        sensitive=set(res.sensitive) | {k for k in desired if res.is_sensitive(k)})
        changes = compare_fields(view, live, self.defaults, self.replace_fields)
        recorded = self._recorded_prints(ctx, res)
        for field in sorted(set(by_print) | (set(recorded) - set(res.desired))):
            changes.extend(self._write_only_change(ctx, res, live, field, by_print.get(field), recorded))
        return changes

    @staticmethod
    def _recorded_prints(ctx, res) -> Dict[str, str]:
        return dict(((ctx.record.objects.get(res.address) or {}).get("fingerprints") or {}))

    def _write_only_change(self, ctx, res, live, field, flag, recorded) -> List[FieldChange]:
        # With a flag Vault says whether a value is set; without one, only the
        # record knows that vaultform set one.
        is_set = bool(live.get(flag)) if flag else field in recorded
        if field not in res.desired:
            return [FieldChange(field, "(set)", ABSENT, sensitive=True)] if is_set else []
        if not is_set or not self._same_value(ctx, res, field, recorded.get(field)):
            return [FieldChange(field, "(set)" if is_set else ABSENT, "(new value)", sensitive=True)]
        return []

    def value_fingerprint(self, ctx, res, field: str) -> str:
        # Bound to the object and the field: equal secrets elsewhere get other
        # fingerprints, so the record does not tell which objects share one.
        text = json.dumps([res.address, field, str(res.desired[field])], separators=(",", ":"))
        return ctx.record.fingerprint(ctx.api, text)

    def _same_value(self, ctx, res, field: str, recorded: Optional[str]) -> bool:
        if recorded is None:
            return False
        # Entries written before fingerprints were bound hash the bare value.
        return recorded in (self.value_fingerprint(ctx, res, field),
                            ctx.record.fingerprint(ctx.api, str(res.desired[field])))

    def record_entry(self, ctx, res) -> dict:
        entry = super().record_entry(ctx, res)
        desired = res.desired or {}
        secret = set(self.write_only_fields(res)) | {k for k in desired if res.is_sensitive(k)}
        recorded = self._recorded_prints(ctx, res)
        # A recorded fingerprint that still matches is kept as it is (one from
        # before fingerprints were bound too): an unchanged secret never makes
        # the record look outdated.
        prints = {f: recorded[f] if self._same_value(ctx, res, f, recorded.get(f))
                  else self.value_fingerprint(ctx, res, f) for f in sorted(secret) if f in desired}
        if prints:
            entry["fingerprints"] = prints  # HMACs under the key in Vault: never a value
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
    segment = "config"
    spec_key = "config"
    doc = KindDoc("auth.<path>.config", "auth/<path>/config",
                  "an auth method's config, for types without their own kind: fields passed through unchecked",
                  address="<type>_config.<path>")

    def planner_rules(self, spec, wildcards):
        return [Rule(f"auth/{path}/config", READ, f"{self.prefix(body['type'])}.{path}")
                for path, body in sorted(self.mounts_of_type(spec, None)) if "config" in body or wildcards], []

    def resources(self, spec, ctx) -> List[Resource]:
        out = []
        for path, body in self.mounts_of_type(spec, ctx):
            if "config" not in body:
                continue
            desired = self.desired_from(spec, ("auth", path, "config"), body["config"], body["type"])
            res = Resource(kind=self, address=f"{self.prefix(body['type'])}.{path}", id=path,
                           desired=desired, location=spec.key_loc("auth", path, "config"),
                           depends_on=[f"auth_method.{path}"],
                           meta={"path": f"auth/{path}/config", "record": {"mount": path}})
            out.append(self.new_resource(res, body["config"], body["type"]))
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
    """<type>_role.<mount>/<name>; types without their own module.

    A type whose named objects live elsewhere (userpass users at
    users/<name>, cert certs at certs/<name>) sets spec_key (its key in the
    spec), role_dir (the path segment in Vault), suffix and segment."""

    name = "auth_role"
    rank = 40
    suffix = "_role"
    prune_key = "auth_roles"
    role_dir = "role"
    segment = "role"
    spec_key = "roles"
    doc = KindDoc("auth.<path>.roles.<name>", "auth/<path>/role/<name>",
                  "an auth method's role, for types without their own kind: fields passed through unchecked",
                  address="<type>_role.<path>/<name>")

    def planner_rules(self, spec, wildcards):
        rules: List[Rule] = []
        prune = spec.prune(self.prune_key)
        objects = f"{self.spec_key} of auth/"
        for path, body in sorted(self.mounts_of_type(spec, None)):
            auth_type, below = body["type"], f"auth/{path}/{self.role_dir}/"
            if wildcards or (prune and "/" in path):
                # `+` is one path segment: the objects themselves, nothing below them.
                rules.append(Rule(below + "+", READ, f"{auth_type} {objects}{path}/"))
            elif not prune:  # else auth/+/<dir>/+ below covers them
                rules += [Rule(below + name, READ, f"{self.prefix(auth_type)}.{path}/{name}")
                          for name in sorted(body.get(self.spec_key) or {})]
            if prune and "/" in path:  # auth/+/<dir>/ below covers one-segment mount paths only
                rules.append(Rule(below, LIST, f"prune.{self.prune_key}: find {self.spec_key} not in the spec"))
        if prune:
            # Pruning lists (and reads) the objects of every auth method in Vault, in the spec or not.
            rules.append(Rule(f"auth/+/{self.role_dir}/", LIST, f"prune.{self.prune_key}: find {self.spec_key} "
                                                                 "not in the spec"))
            rules.append(Rule(f"auth/+/{self.role_dir}/+", READ, f"prune.{self.prune_key}: every one of the "
                                                                 f"{self.spec_key}, in the spec or not"))
        return rules, []

    def resources(self, spec, ctx) -> List[Resource]:
        out = []
        for path, body in self.mounts_of_type(spec, ctx):
            # A role is written after its method's config (Vault checks some
            # role fields against it), so a failed config skips its roles.
            deps = [f"auth_method.{path}"] + ([f"{body['type']}_config.{path}"] if "config" in body else [])
            for role, fields in (body.get(self.spec_key) or {}).items():
                desired = self.desired_from(spec, ("auth", path, self.spec_key, role), fields, body["type"])
                desired = self.named_defaults(role, desired, fields)
                res = Resource(kind=self, address=f"{self.prefix(body['type'])}.{path}/{role}",
                               id=f"{path}/{role}", desired=desired,
                               location=spec.key_loc("auth", path, self.spec_key, role), depends_on=deps,
                               meta={"path": f"auth/{path}/{self.role_dir}/{role}", "record": {"mount": path}})
                out.append(self.new_resource(res, fields, body["type"]))
        return out

    def listed_as(self, ctx, res):
        if self.auth_type is None:
            # A type no kind knows: its objects' directory may not answer
            # LIST at all (a 404, which would read as "none there").
            return None
        directory, _, name = res.meta["path"].rpartition("/")
        return directory, name  # the directory `discover` lists for pruning

    def named_defaults(self, name: str, desired: Dict[str, Any], fields: dict) -> Dict[str, Any]:
        """Defaults that depend on the object's name (cert: display_name)."""
        return desired

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
