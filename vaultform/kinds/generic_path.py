"""path.<api path>: any other Vault API path, as the escape hatch.

For the long tail no typed kind covers yet (sys/config/cors, a transit key's
config, a plugin's settings):

    paths:
      sys/config/cors: {data: {enabled: true, allowed_origins: [...]}, delete: false}

The declared keys are written; on read only the declared keys are compared,
so what Vault adds (computed fields, other settings) is never drift. Keys
listed in `write_only` (and any value from a value source that Vault leaves
out of its answer) are compared by an HMAC fingerprint in the ownership
record, never printed. When a read returns none of the declared keys (an
endpoint that cannot be read back), the plan says it cannot compare, and
the whole object is compared with what vaultform last wrote.

`delete: true` (the default) deletes the path when it leaves the spec or
is pruned; `delete: false` only stops managing it (a config endpoint that
has no DELETE, or one whose DELETE you do not want).

The fingerprint machinery is AuthObjectKind's (auth_objects.py): a path is
an object of named fields, some write-only, like an auth method's config.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from vaultform.errors import SpecError, UnsupportedOperation
from vaultform.kinds.auth_objects import AuthObjectKind
from vaultform.kinds.base import Kind, KindDoc
from vaultform.model import Resource
from vaultform.planner_rules import READ, Rule

# Paths a typed kind manages (two kinds on one object would undo each
# other's writes every run), and paths that are operations, not objects.
TYPED_PREFIXES = {"sys/policies/acl/": "policies", "sys/policy/": "policies", "sys/mounts/": "secrets_engines",
                  "sys/auth/": "auth", "identity/": "identity"}
REFUSED_PREFIXES = ("sys/raw", "sys/init", "sys/unseal", "sys/seal", "sys/generate-root", "sys/rekey",
                    "sys/step-down", "sys/storage/raft", "auth/token/create", "sys/wrapping")
UNCOMPARABLE = "cannot compare: Vault's answer holds none of the declared keys; compared with what vaultform last wrote"


class GenericPath(AuthObjectKind):
    name = "path"
    rank = 70  # after the typed kinds: a path often configures something they made
    mount_section = None
    section = "paths"
    counted_as = ("path", "paths")
    section_schema = {"$ref": "paths.schema.json"}
    doc = KindDoc("paths.<api path>", "<api path>",
                  "any other API path: the declared keys written and compared (write_only keys by fingerprint); "
                  "delete: false only forgets it when removed", address="path.<api path>")

    # -- which fields are secret ------------------------------------------------
    def type_of(self, res: Resource) -> Optional[str]:
        return None

    def write_only_fields(self, res: Resource) -> Dict[str, Optional[str]]:
        fields = {name: None for name in res.meta.get("write_only") or ()}
        if res.meta.get("uncomparable"):
            fields.update({name: None for name in res.desired or {}})
        return fields

    def public_fields(self, auth_type: Optional[str]) -> frozenset:
        return frozenset()

    def is_duration(self, name: str) -> bool:
        return False  # a path's fields are Vault's own: compared as written, not as auth TTLs

    # -- from the spec ------------------------------------------------------------
    def resources(self, spec, ctx) -> List[Resource]:
        out = []
        for path, body in spec.section("paths").items():
            data = body.get("data") or {}
            desired = self.desired_from(spec, ("paths", path, "data"), data)
            write_only = sorted(body.get("write_only") or [])
            meta = {"path": path, "write_only": write_only,
                    "record": {"delete": body.get("delete", True), "write_only": write_only}}
            res = Resource(kind=self, address=f"path.{path}", id=path, desired=desired,
                           location=spec.key_loc("paths", path), depends_on=self._mount_of(spec, path), meta=meta)
            res.sensitive = set(write_only) | self.source_fields(data, None)
            out.append(res)
        return out

    @staticmethod
    def _mount_of(spec, path: str) -> List[str]:
        if path.startswith("auth/"):
            return [f"auth_method.{m}" for m in spec.section("auth") if path.startswith(f"auth/{m}/")]
        return [f"secrets_engine.{m}" for m in spec.section("secrets_engines") if path.startswith(f"{m}/")]

    def from_record(self, address, entry):
        res = Kind.from_record(self, address, entry)
        meta = entry.get("meta") or {}
        res.meta.update(path=res.id, write_only=list(meta.get("write_only") or []))
        res.sensitive = set(res.meta["write_only"]) | set(entry.get("fingerprints") or {})
        return res

    # -- against Vault ---------------------------------------------------------------
    def read(self, ctx, res) -> Optional[Dict[str, Any]]:
        try:
            response = ctx.api.read(res.meta["path"])
        except UnsupportedOperation:  # a write-only endpoint: nothing to read back
            response = None
        data = (response or {}).get("data")
        entry = ctx.record.objects.get(res.address)
        if data is None:
            if entry is None or (entry.get("meta") or {}).get("readable"):
                return None  # never written by vaultform, or deleted since: create it
            # An endpoint that never reads back: what vaultform wrote can
            # only be checked by its fingerprints.
            res.meta["uncomparable"] = True
            return {}
        # Known only from the record (removed from the spec): its recorded fields.
        fields = res.desired if res.desired is not None else res.meta.get("state_fields") or ()
        declared = set(fields) - set(res.meta.get("write_only") or ())
        if not declared & set(data or {}):
            # Nothing to compare (a write-only endpoint, or one that answers 404
            # to reads): the record's fingerprints of what was written decide.
            res.meta["uncomparable"] = True
            return {}
        if res.desired is not None:
            res.meta["record"]["readable"] = True
        return self.live_from(res, data)

    def change_reason(self, change) -> str:
        return UNCOMPARABLE if change.resource.meta.get("uncomparable") else change.reason

    def create(self, ctx, res) -> None:
        self._write(ctx, res)

    def update(self, ctx, res, live, changes) -> None:
        self._write(ctx, res)

    def _write(self, ctx, res) -> None:
        ctx.api.write(res.meta["path"], res.desired)  # every declared key: a write may replace the object
        # Whether it reads back: then a later 404 means "deleted by hand", not
        # "an endpoint that cannot be read". One GET, for the escape hatch only.
        try:
            data = (ctx.api.read(res.meta["path"]) or {}).get("data") or {}
        except UnsupportedOperation:
            data = {}
        declared = set(res.desired) - set(res.meta.get("write_only") or ())
        readable = bool(declared & set(data))
        res.meta["record"]["readable"] = readable
        res.meta["uncomparable"] = not readable  # so the record fingerprints every field it cannot read

    def delete(self, ctx, res) -> None:
        if self._deletes(ctx, res):
            ctx.api.delete(res.meta["path"])

    def _deletes(self, ctx, res) -> bool:
        entry = ctx.record.objects.get(res.address) or {}
        return bool((entry.get("meta") or {}).get("delete", res.meta.get("record", {}).get("delete", True)))

    def destroy_notes(self, ctx, res) -> List[str]:
        if self._deletes(ctx, res):
            return []
        return [f"delete: false: {res.id} stays in Vault as it is, no longer managed"]

    def discover(self, ctx) -> List[Resource]:
        return []  # arbitrary paths cannot be listed: only recorded ones are ever deleted

    # -- offline ------------------------------------------------------------------------
    def planner_rules(self, spec, wildcards):
        return [Rule(path, READ, f"path.{path}") for path in sorted(spec.section("paths"))], []

    def checks(self, spec):
        problems = []
        record_mount = spec.record_location["mount"].strip("/")
        for path, body in spec.section("paths").items():
            where, field = spec.key_loc("paths", path), f"paths.{path}"
            typed = next((section for prefix, section in TYPED_PREFIXES.items() if path.startswith(prefix)), None)
            if typed:
                problems.append(SpecError(f"is managed by the `{typed}:` section; declare it there (two kinds "
                                          "writing one object would undo each other)", location=where, field=field))
            elif any(path == p or path.startswith(p + "/") for p in REFUSED_PREFIXES):
                problems.append(SpecError("is an operation, not a configuration object: vaultform will not "
                                          "call it from paths:", location=where, field=field))
            elif path == record_mount or path.startswith(record_mount + "/"):
                problems.append(SpecError("is where vaultform keeps its ownership record", location=where,
                                          field=field))
            data = body.get("data") or {}
            for key in body.get("write_only") or []:
                if key not in data:
                    problems.append(SpecError(f"write_only names {key!r}, which is not in data",
                                              location=spec.loc("paths", path, "write_only"),
                                              field=f"{field}.write_only"))
        return problems, []


KINDS = [GenericPath()]
