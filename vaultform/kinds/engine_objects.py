"""Objects that live inside a secrets engine mount: what pki.py, transit.py,
database.py and kv_config.py have in common.

They sit under their mount in the spec, the way an auth method holds its
config and roles (`secrets_engines.<mount>.<spec_key>`), and are addressed
`<kind>.<mount>` (one per mount: kv_config, pki_urls, a CA) or
`<kind>.<mount>/<name>` (many: pki_role, transit_key, database_role, ...).

The field handling is the auth objects' (auth_objects.py): Vault's own field
names, defaults measured against OpenBao, durations and lists normalised,
value-source values sensitive, write-only fields compared by an HMAC
fingerprint kept in the ownership record. `auth_type` names the engine here:
it keys the write-only catalogue (("database", "config")) and makes the
normalisation exact rather than the generic guesswork; no auth method has an
engine's type, so claiming it takes nothing from the generic auth kinds.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple

from vaultform import names
from vaultform.errors import SpecError
from vaultform.kinds.auth_objects import AuthObjectKind
from vaultform.kinds.base import PREVENT_DESTROY, prevent_destroy_change, record_only
from vaultform.kinds.mounts import kv_version
from vaultform.model import ABSENT, FieldChange, Resource
from vaultform.planner_rules import Rule

SECTION = "secrets_engines"
# Keys of an object's spec entry that are vaultform's, never sent to Vault.
CONTROL_KEYS = ("prevent_destroy", "deletable")


class EngineObjectKind(AuthObjectKind):
    engine = ""                 # the engine's type ("pki", "transit", "database", "kv")
    spec_key = ""               # key under secrets_engines.<mount>
    mount_section = SECTION
    many = False                # a map of named objects, or one object per mount
    object_dir = ""             # many: objects live at <mount>/<object_dir>/<name>
    object_path_suffix = ""     # one per mount: it lives at <mount>/<object_path_suffix>
    what = "object"             # how plans name one (destroy notes, refusals)
    rank = 40
    protectable = False         # takes prevent_destroy / deletable (the destructive kinds)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.auth_type = cls.engine or None  # see the module docstring

    # -- which mounts hold these ----------------------------------------------
    def serves(self, body: dict) -> bool:
        return isinstance(body, dict) and body.get("type") == self.engine

    def serves_live(self, entry: dict) -> bool:
        return entry.get("type") == self.engine

    def engine_mounts(self, spec) -> Iterable[Tuple[str, dict]]:
        for mount, body in spec.section(SECTION).items():
            if self.serves(body) and body.get(self.spec_key) is not None:
                yield mount, body

    def type_of(self, res: Resource) -> Optional[str]:
        return self.engine

    # -- paths -------------------------------------------------------------------
    def object_path(self, mount: str, name: Optional[str]) -> str:
        return f"{mount}/{self.object_dir}/{name}" if self.many else f"{mount}/{self.object_path_suffix}"

    def split_id(self, ident: str) -> Tuple[str, Optional[str]]:
        if not self.many:
            return ident, None
        mount, name = ident.rsplit("/", 1)
        return mount, name

    # -- from the spec -------------------------------------------------------------
    def items(self, body: dict) -> List[Tuple[Optional[str], dict]]:
        entry = body.get(self.spec_key) or {}
        return sorted(entry.items()) if self.many else [(None, entry)]

    def dependencies(self, spec, mount: str, body: dict, name: Optional[str], fields: dict) -> List[str]:
        return [f"secrets_engine.{mount}"]

    def resources(self, spec, ctx) -> List[Resource]:
        out = []
        for mount, body in self.engine_mounts(spec):
            for name, fields in self.items(body):
                fields = dict(fields or {})
                control = {k: fields.pop(k) for k in CONTROL_KEYS if k in fields}
                field_path = (SECTION, mount, self.spec_key) + ((name,) if self.many else ())
                ident = f"{mount}/{name}" if self.many else mount
                res = Resource(kind=self, address=f"{self.name}.{ident}", id=ident,
                               desired=self.desired_from(spec, field_path, fields, self.engine),
                               location=spec.key_loc(*field_path),
                               depends_on=self.dependencies(spec, mount, body, name, fields),
                               prevent_destroy=bool(control.get("prevent_destroy")),
                               meta={"path": self.object_path(mount, name), "record": {"mount": mount},
                                     "deletable": bool(control.get("deletable"))})
                out.append(self.prepare(spec, self.new_resource(res, fields, self.engine), body, fields))
        return out

    def prepare(self, spec, res: Resource, body: dict, fields: dict) -> Resource:
        """A kind's last word on a resource made from the spec."""
        return res

    def from_record(self, address: str, entry: dict) -> Optional[Resource]:
        res = super().from_record(address, entry)
        mount, name = self.split_id(res.id)
        res.meta["path"] = self.object_path(mount, name)
        return res

    # -- diff ------------------------------------------------------------------------
    def diff(self, ctx, res, live) -> List[FieldChange]:
        changes = super().diff(ctx, res, live)
        for change in changes:
            if change.name in self.replace_fields:
                change.forces_replace = True
        return changes + (prevent_destroy_change(ctx, res) if self.protectable else [])

    def change_reason(self, change) -> str:
        if record_only(change.fields):
            return "prevent_destroy changed in the spec; only the ownership record is written"
        return change.reason

    def applied_state(self, res) -> Dict[str, Any]:
        return {k: v for k, v in super().applied_state(res).items() if k != PREVENT_DESTROY}

    # -- pruning -------------------------------------------------------------------------
    def discover(self, ctx) -> List[Resource]:
        if not self.many:
            return []
        # Only inside mounts the spec declares: pruning another team's engine
        # would take what the spec never claimed (for a transit key, for good).
        out = []
        declared = ctx.spec.section(SECTION)
        for mount, entry in sorted(ctx.secret_mounts().items()):
            if mount not in declared or not self.serves_live(entry):
                continue
            for name in ctx.api.list(f"{mount}/{self.object_dir}"):
                if name.endswith("/"):
                    continue
                out.append(Resource(kind=self, address=f"{self.name}.{mount}/{name}", id=f"{mount}/{name}",
                                    meta={"path": self.object_path(mount, name), "auth_type": self.engine}))
        return out

    # -- least privilege -------------------------------------------------------------------
    def planner_rules(self, spec, wildcards: bool):
        return [Rule(path, capability, why) for path, capability, why in self.read_rules(spec, wildcards)], []

    def checks(self, spec):
        return self.spec_problems(spec), []

    def read_rules(self, spec, wildcards: bool) -> List[Tuple[str, str, str]]:
        """(path, capability, why) the planner reads: the objects themselves
        (never a secret: Vault returns no key, password or private key)."""
        rules = []
        for mount, body in spec.section(SECTION).items():
            if not self.serves(body):
                continue
            if self.many and (wildcards or spec.prune(self.prune_key or "")):
                rules.append((f"{mount}/{self.object_dir}/+", "read", f"{self.name} objects of {mount}/"))
                if spec.prune(self.prune_key or ""):
                    rules.append((f"{mount}/{self.object_dir}/", "list",
                                  f"prune.{self.prune_key}: find {self.what}s not in the spec"))
                continue
            for name, _fields in self.items(body) if body.get(self.spec_key) is not None else ():
                ident = f"{mount}/{name}" if self.many else mount
                rules += [(path, "read", f"{self.name}.{ident}") for path in self.read_paths(mount, name)]
        return rules

    def read_paths(self, mount: str, name: Optional[str]) -> List[str]:
        return [self.object_path(mount, name)]

    # -- validate -------------------------------------------------------------------------------
    def spec_problems(self, spec) -> List[SpecError]:
        """Names that become URL segments follow Vault's rule for names."""
        problems = []
        if not self.many:
            return problems
        for mount, body in self.engine_mounts(spec):
            for name, _fields in self.items(body):
                problem = names.role_name_problem(name)
                if problem:
                    problem = problem.replace("for a role", f"for a {self.what}")
                    where = (SECTION, mount, self.spec_key, name)
                    problems.append(SpecError(f"the name {problem}", location=spec.key_loc(*where),
                                              field=".".join(where)))
        return problems


def is_kv2(body: dict) -> bool:
    return isinstance(body, dict) and kv_version(str(body.get("type", "")), body.get("options")) == "2"


def absent_or(value: Any, default: Any) -> Any:
    return default if value is ABSENT else value
