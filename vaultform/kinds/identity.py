"""identity_entity.<name> and identity_group.<name>: Vault's identity store.

Entities and groups are addressed and compared by name; Vault's IDs never
appear in the spec or the plan. Members are entity and group names, entity
aliases and a group alias name their auth method by mount path: vaultform
turns names into IDs (and accessors) when it writes, and back when it reads.

Measured on OpenBao 2.7.2:
- a write to identity/entity/name/<name> merges into the stored entity (a
  field left out keeps its value), so every write sends every field;
- unset metadata reads back as null, unset policies as [] or null;
- an entity alias (mount, name) belongs to one entity: creating it for
  another entity moves it there (same alias ID) rather than failing;
- a group's type cannot be changed ("group type cannot be changed"): a
  type change re-creates the group;
- logins make entities (entity_<8 hex>) and external group lookups make
  groups (group_<8 hex>) on their own: discovery leaves those names alone,
  so `prune.identity_entities` never deletes a user's login entity.

An object deleted and made again by hand keeps its name but gets a new ID;
the record keeps the ID vaultform made, so such an object is never deleted
as "removed from the spec".
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple

from vaultform import names
from vaultform.errors import SpecError, VaultRequestError
from vaultform.kinds.base import Kind, KindDoc, counted
from vaultform.model import Resource
from vaultform.planner_rules import LIST, READ, Rule

AUTO_NAMED = re.compile(r"^(entity|group)_[0-9a-f]{8}$")


def _names(value: Any) -> List[str]:
    return sorted({str(v) for v in (value or [])})


def _alias(mount: str, name: str) -> Dict[str, str]:
    return {"mount": mount.strip("/"), "name": name}


def _aliases(items: Any) -> List[Dict[str, str]]:
    return sorted((_alias(a["mount"], a["name"]) for a in items or []), key=lambda a: (a["mount"], a["name"]))


def _mount_of(alias: dict) -> str:
    # Vault answers mount_path "auth/userpass/"; the spec says "userpass".
    path = alias.get("mount_path") or ""
    return path[len("auth/"):].strip("/") if path.startswith("auth/") else path.strip("/")


def _accessor(ctx, mount: str) -> str:
    entry = ctx.auth_mounts().get(mount)
    if entry is None or not entry.get("accessor"):
        # Enabled by this apply (or read before the cluster was up): the run's
        # table does not know the accessor Vault gave it. Ask Vault.
        entry = ((ctx.api.read("sys/auth") or {}).get("data") or {}).get(f"{mount}/")
    if entry is None or not entry.get("accessor"):
        raise VaultRequestError(f"auth/{mount}/ is not enabled in Vault at {ctx.api.address}: "
                                "an identity alias needs its auth method")
    return entry["accessor"]


def _ids_to_names(ctx, what: str, fresh: bool = False) -> Dict[str, str]:
    load = lambda: {i: (info or {}).get("name", i) for i, info in ctx.api.list_info(f"identity/{what}/id").items()}
    return load() if fresh else ctx.cached(f"identity-{what}-names", load)


def _ids_of(ctx, what: str, names: List[str]) -> List[str]:
    by_name = {name: i for i, name in _ids_to_names(ctx, what, fresh=True).items()}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise VaultRequestError(f"identity {what} {', '.join(missing)} not found in Vault at {ctx.api.address}")
    return [by_name[n] for n in names]


def _unaddressable(name: str) -> Optional[str]:
    """Why a name made by hand cannot be put in a URL path, or None (URL
    syntax, a control character, or one OpenBao refuses in a path: names.py)."""
    return names.segment_problem(name)


class IdentityKind(Kind):
    what = ""          # "entity" or "group": the API's word
    spec_key = ""      # "entities" or "groups"
    rank = 60

    def path(self, name: str) -> str:
        return f"identity/{self.what}/name/{name}"

    def items(self, spec) -> Dict[str, dict]:
        return (spec.section("identity").get(self.spec_key) or {})

    def read(self, ctx, res) -> Optional[Dict[str, Any]]:
        response = ctx.api.read(self.path(res.id))
        data = (response or {}).get("data")
        if not data:
            return None
        res.meta["vault_id"] = data.get("id")
        res.meta.setdefault("record", {})["vault_id"] = data.get("id")
        return self.live_from(ctx, data)

    def live_from(self, ctx, data: dict) -> Dict[str, Any]:
        raise NotImplementedError

    def delete(self, ctx, res) -> None:
        ctx.api.delete(self.path(res.id))

    def discover(self, ctx) -> List[Resource]:
        return ctx.cached(f"identity-{self.what}-discovered", lambda: [
            Resource(kind=self, address=f"{self.name}.{name}", id=name)
            for name in sorted(ctx.api.list(f"identity/{self.what}/name")) if not AUTO_NAMED.match(name)])

    def prune_candidates(self, ctx) -> List[Resource]:
        """A name is the request body's, so OpenBao takes any text (measured:
        a newline, '#'); one no URL can carry as a name (names.py) cannot be
        read or deleted by name, and asking would stop the plan: prune
        leaves it alone, and plan_warnings says so."""
        return [res for res in super().prune_candidates(ctx) if _unaddressable(res.id) is None]

    def plan_warnings(self, ctx) -> List[str]:
        if not self.pruned(ctx) or ctx.vault_empty:
            return []
        return [f"{json.dumps(res.address)} is not pruned (prune.{self.prune_key} is on): its name "
                f"{_unaddressable(res.id)}, so vaultform cannot read or delete it by name; delete it by its ID "
                f"(identity/{self.what}/id/<id>) if it must go"
                for res in self.discover(ctx) if _unaddressable(res.id) is not None]

    def still_as_recorded(self, ctx, res, live, entry) -> bool:
        recorded = (entry.get("meta") or {}).get("vault_id")
        if recorded and res.meta.get("vault_id") and recorded != res.meta["vault_id"]:
            return False  # deleted and made again by hand: someone else's now
        return super().still_as_recorded(ctx, res, live, entry)

    def planner_rules(self, spec, wildcards):
        names = sorted(self.items(spec))
        if not names and not spec.prune(self.prune_key):
            return [], []
        rules = [Rule(f"identity/{self.what}/id/", LIST, f"identity {self.what} IDs and names: members and "
                                                          "aliases are shown by name")]
        if spec.prune(self.prune_key):
            rules += [Rule(f"identity/{self.what}/name/", LIST, f"prune.{self.prune_key}: find {self.spec_key} "
                                                                "not in the spec"),
                      Rule(f"identity/{self.what}/name/*", READ, f"prune.{self.prune_key}: every one of the "
                                                                 f"{self.spec_key}, in the spec or not")]
        elif wildcards:
            rules.append(Rule(f"identity/{self.what}/name/*", READ, f"identity {self.spec_key}"))
        else:
            rules += [Rule(self.path(name), READ, f"{self.name}.{name}") for name in names]
        return rules, []

    def _after(self, spec, mounts: List[str]) -> List[str]:
        return [f"auth_method.{m}" for m in mounts if m in spec.section("auth")]


class IdentityEntity(IdentityKind):
    name = "identity_entity"
    what = "entity"
    spec_key = "entities"
    prune_key = "identity_entities"
    section = "identity"
    section_keys_are_names = False  # its keys are entities/groups; their names are checked below
    section_schema = {"$ref": "identity.schema.json"}
    defaults = {"policies": [], "metadata": {}, "disabled": False, "aliases": []}
    doc = KindDoc("identity.entities.<name>", "identity/entity/name/<name>, identity/entity-alias",
                  "an identity entity: policies, metadata, disabled, and aliases by auth mount path and name",
                  address="identity_entity.<name>")

    def summary(self, spec):
        identity = spec.section("identity")
        counts = [(len(identity.get("entities") or {}), "identity entity", "identity entities"),
                  (len(identity.get("groups") or {}), "identity group", "identity groups")]
        return ", ".join(counted(n, one, many) for n, one, many in counts if n) or None

    def resources(self, spec, ctx) -> List[Resource]:
        out = []
        for name, body in self.items(spec).items():
            body = body or {}
            desired = {"policies": _names(body.get("policies")), "metadata": dict(body.get("metadata") or {}),
                       "disabled": bool(body.get("disabled", False)), "aliases": _aliases(body.get("aliases"))}
            mounts = sorted({a["mount"] for a in desired["aliases"]})
            out.append(Resource(kind=self, address=f"{self.name}.{name}", id=name, desired=desired,
                                location=spec.key_loc("identity", "entities", name),
                                depends_on=self._after(spec, mounts), meta={"record": {}}))
        return out

    def live_from(self, ctx, data: dict) -> Dict[str, Any]:
        return {"policies": _names(data.get("policies")), "metadata": dict(data.get("metadata") or {}),
                "disabled": bool(data.get("disabled")),
                "aliases": _aliases({"mount": _mount_of(a), "name": a.get("name", "")}
                                    for a in data.get("aliases") or [])}

    def _write(self, ctx, res) -> str:
        d = res.desired
        ctx.api.write(self.path(res.id), {"policies": d["policies"], "metadata": d["metadata"],
                                          "disabled": d["disabled"]})
        data = (ctx.api.read(self.path(res.id)) or {}).get("data") or {}
        res.meta.setdefault("record", {})["vault_id"] = data.get("id")
        self._sync_aliases(ctx, res, data)
        return data.get("id")

    def _sync_aliases(self, ctx, res, data: dict) -> None:
        want = {(a["mount"], a["name"]) for a in res.desired["aliases"]}
        have = {(_mount_of(a), a.get("name", "")): a.get("id") for a in data.get("aliases") or []}
        for key in sorted(set(have) - want):
            ctx.api.delete(f"identity/entity-alias/id/{have[key]}")
        for mount, alias in sorted(want - set(have)):
            ctx.api.write("identity/entity-alias", {"name": alias, "canonical_id": data["id"],
                                                    "mount_accessor": _accessor(ctx, mount)})

    def create(self, ctx, res) -> None:
        self._write(ctx, res)

    def update(self, ctx, res, live, changes) -> None:
        self._write(ctx, res)


class IdentityGroup(IdentityKind):
    name = "identity_group"
    what = "group"
    spec_key = "groups"
    prune_key = "identity_groups"
    rank = 61  # after entities: members are entities
    defaults = {"type": "internal", "policies": [], "metadata": {}, "members": [], "member_groups": [],
                "alias": {}}
    replace_fields = frozenset({"type"})
    doc = KindDoc("identity.groups.<name>", "identity/group/name/<name>, identity/group-alias",
                  "an identity group: internal (members by entity and group name) or external (one alias on an "
                  "auth mount); its policies apply to every member", address="identity_group.<name>")

    def resources(self, spec, ctx) -> List[Resource]:
        out = []
        groups = self.items(spec)
        entities = spec.section("identity").get("entities") or {}
        for name, body in groups.items():
            body = body or {}
            alias = body.get("alias")
            desired = {"type": body.get("type", "internal"), "policies": _names(body.get("policies")),
                       "metadata": dict(body.get("metadata") or {}), "members": _names(body.get("members")),
                       "member_groups": _names(body.get("member_groups")),
                       "alias": _alias(alias["mount"], alias["name"]) if alias else {}}
            deps = [f"identity_entity.{m}" for m in desired["members"] if m in entities]
            deps += [f"identity_group.{g}" for g in desired["member_groups"] if g in groups]
            deps += self._after(spec, [desired["alias"]["mount"]] if alias else [])
            out.append(Resource(kind=self, address=f"{self.name}.{name}", id=name, desired=desired,
                                location=spec.key_loc("identity", "groups", name), depends_on=deps,
                                meta={"record": {}}))
        return out

    def live_from(self, ctx, data: dict) -> Dict[str, Any]:
        entity_names = _ids_to_names(ctx, "entity") if data.get("member_entity_ids") else {}
        group_names = _ids_to_names(ctx, "group") if data.get("member_group_ids") else {}
        alias = data.get("alias") or {}
        return {"type": data.get("type", "internal"), "policies": _names(data.get("policies")),
                "metadata": dict(data.get("metadata") or {}),
                "members": _names(entity_names.get(i, i) for i in data.get("member_entity_ids") or []),
                "member_groups": _names(group_names.get(i, i) for i in data.get("member_group_ids") or []),
                "alias": _alias(_mount_of(alias), alias.get("name", "")) if alias.get("name") else {}}

    def _write(self, ctx, res, with_type: bool) -> None:
        d = res.desired
        body = {"policies": d["policies"], "metadata": d["metadata"]}
        if with_type:
            body["type"] = d["type"]
        if d["type"] == "internal":  # an external group's members come from its alias
            body["member_entity_ids"] = _ids_of(ctx, "entity", d["members"])
            body["member_group_ids"] = _ids_of(ctx, "group", d["member_groups"])
        ctx.api.write(self.path(res.id), body)
        data = (ctx.api.read(self.path(res.id)) or {}).get("data") or {}
        res.meta.setdefault("record", {})["vault_id"] = data.get("id")
        self._sync_alias(ctx, res, data)

    def _sync_alias(self, ctx, res, data: dict) -> None:
        want, have = res.desired["alias"], data.get("alias") or {}
        have_key = (_mount_of(have), have.get("name", "")) if have.get("name") else None
        if have_key == ((want["mount"], want["name"]) if want else None):
            return
        if not want:
            ctx.api.delete(f"identity/group-alias/id/{have['id']}")
            return
        body = {"name": want["name"], "mount_accessor": _accessor(ctx, want["mount"]), "canonical_id": data["id"]}
        ctx.api.write(f"identity/group-alias/id/{have['id']}" if have_key else "identity/group-alias", body)

    def create(self, ctx, res) -> None:
        self._write(ctx, res, with_type=True)

    def update(self, ctx, res, live, changes) -> None:
        self._write(ctx, res, with_type=False)

    def checks(self, spec) -> Tuple[list, list]:
        problems = []
        identity = spec.section("identity")
        for key in ("entities", "groups"):
            for name in identity.get(key) or {}:
                problem = names.name_problem(name)
                if problem:
                    problems.append(SpecError(f"the name {problem}", location=spec.key_loc("identity", key, name),
                                              field=f"identity.{key}.{name}"))
        groups = identity.get("groups") or {}
        for name, body in groups.items():
            body = body or {}
            where = ("identity", "groups", name)
            if body.get("type", "internal") == "external" and (body.get("members") or body.get("member_groups")):
                key = "members" if body.get("members") else "member_groups"
                problems.append(SpecError("an external group's members come from its alias on an auth method; "
                                          "Vault refuses members here", location=spec.key_loc(*where, key),
                                          field=".".join(where + (key,))))
            if body.get("type", "internal") == "internal" and body.get("alias"):
                problems.append(SpecError("only an external group has an alias", location=spec.key_loc(*where, "alias"),
                                          field=".".join(where + ("alias",))))
        for name in _group_cycle(groups):
            problems.append(SpecError("is its own member through member_groups: Vault refuses a group cycle",
                                      location=spec.key_loc("identity", "groups", name),
                                      field=f"identity.groups.{name}"))
        return problems, []


def _group_cycle(groups: Dict[str, dict]) -> List[str]:
    """Groups that contain themselves through member_groups (a cycle would
    also leave the apply with no group to write first)."""
    def reaches(start: str, target: str, seen: set) -> bool:
        for member in (groups.get(start) or {}).get("member_groups") or []:
            if member == target or (member not in seen and reaches(member, target, seen | {member})):
                return True
        return False
    return [name for name in groups if reaches(name, name, {name})]


KINDS = [IdentityEntity(), IdentityGroup()]
