"""secret.<mount>/<path>: a KV secret (v1 or v2), its values from sources.

The whole key set is managed: keys missing from the spec are removed.
Every value is sensitive. A generated value is made only when the key is
absent in Vault and is never overwritten afterwards.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from vaultform import values
from vaultform.errors import SpecError
from vaultform.kinds.base import Kind
from vaultform.kinds.mounts import kv_version
from vaultform.model import ABSENT, ALL_FIELDS, FieldChange, Resource


def split_mount(ctx, spec, address_path: str) -> Tuple[str, str]:
    """Longest mount path (from the spec or Vault) that prefixes the secret's path."""
    mounts = set(spec.section("secrets_engines")) | set(ctx.secret_mounts())
    parts = address_path.split("/")
    for i in range(len(parts) - 1, 0, -1):
        mount = "/".join(parts[:i])
        if mount in mounts:
            return mount, "/".join(parts[i:])
    return parts[0], "/".join(parts[1:])


def mount_kv_version(ctx, spec, mount: str) -> Optional[str]:
    body = spec.section("secrets_engines").get(mount)
    if body is not None:
        return kv_version(body["type"], body.get("options"))
    entry = ctx.secret_mounts().get(mount)
    if entry is None:
        return None
    return kv_version(entry.get("type", ""), entry.get("options"))


class KVSecret(Kind):
    name = "secret"
    rank = 50

    def resources(self, spec, ctx) -> List[Resource]:
        out = []
        for key, data in spec.section("secrets").items():
            mount, path = split_mount(ctx, spec, key)
            version = mount_kv_version(ctx, spec, mount)
            if version is None and not ctx.vault_empty and ctx.api is not None:
                where = "is not a KV mount" if mount in ctx.secret_mounts() else "is not mounted and not in secrets_engines"
                raise SpecError(f"{mount}/ {where}", location=spec.key_loc("secrets", key), field=f"secrets.{key}")
            desired = {name: values.resolve(v, spec.base_dir, spec.loc("secrets", key, name), f"secrets.{key}.{name}")
                       for name, v in data.items()}
            deps = [f"secrets_engine.{mount}"] if mount in spec.section("secrets_engines") else []
            out.append(Resource(kind=self, address=f"secret.{key}", id=key, desired=desired,
                                location=spec.key_loc("secrets", key), depends_on=deps, sensitive={ALL_FIELDS},
                                meta={"mount": mount, "path": path, "version": version or "2",
                                      "record": {"mount": mount, "path": path}}))
        return out

    def from_record(self, address, entry):
        res = super().from_record(address, entry)
        meta = entry.get("meta") or {}
        res.meta.update(mount=meta.get("mount"), path=meta.get("path"), version=meta.get("version", "2"))
        res.sensitive = {ALL_FIELDS}
        return res

    def _data_path(self, res, version: Optional[str] = None) -> str:
        m, p = res.meta["mount"], res.meta["path"]
        return f"{m}/data/{p}" if (version or res.meta["version"]) == "2" else f"{m}/{p}"

    def read(self, ctx, res) -> Optional[Dict[str, Any]]:
        entry = ctx.secret_mounts().get(res.meta["mount"])
        stored = kv_version(entry.get("type", ""), entry.get("options")) if entry else None
        if res.desired is None and stored:
            res.meta["version"] = stored  # known from a record that may predate an upgrade: the mount knows
        if stored == "2" and res.meta["version"] == "1":
            return None  # a v2 mount becomes v1 only by being re-created: its data goes with it
        # A v1 mount that this plan upgrades to v2 keeps its data (Vault converts
        # it in place), so compare with what is stored now instead of planning
        # a write of the same values.
        version = "1" if stored == "1" else res.meta["version"]
        response = ctx.api.read(self._data_path(res, version))
        if not response or not response.get("data"):
            return None
        if version == "2":
            data = response["data"].get("data")  # None when the latest version is deleted
            if data is None:
                return None
            res.meta["live_version"] = (response["data"].get("metadata") or {}).get("version")
            return dict(data)
        return dict(response["data"])

    def diff(self, ctx, res, live) -> List[FieldChange]:
        self.settle_generated(res, live)
        changes = []
        for name in sorted(set(res.desired) | set(live)):
            want, have = res.desired.get(name, ABSENT), live.get(name, ABSENT)
            if want != have:
                changes.append(FieldChange(name, have, want, sensitive=True))
        return changes

    @staticmethod
    def settle_generated(res, live: Optional[dict]) -> None:
        for name, want in list(res.desired.items()):
            if isinstance(want, values.Generated):
                have = (live or {}).get(name, ABSENT)
                res.desired[name] = have if have is not ABSENT else want.new_value()

    def create(self, ctx, res) -> None:
        self.settle_generated(res, None)
        payload = {"data": res.desired} if res.meta["version"] == "2" else res.desired
        response = ctx.api.write(self._data_path(res), payload)
        if res.meta["version"] == "2" and isinstance(response, dict):
            res.meta["written_version"] = (response.get("data") or {}).get("version")

    def delete(self, ctx, res) -> None:
        m, p = res.meta["mount"], res.meta["path"]
        # v2: remove every version and the metadata, as the spec no longer has it.
        ctx.api.delete(f"{m}/metadata/{p}" if res.meta["version"] == "2" else f"{m}/{p}")

    def record_entry(self, ctx, res) -> dict:
        meta = {"mount": res.meta["mount"], "path": res.meta["path"], "version": res.meta["version"]}
        if res.meta.get("written_version") or res.meta.get("live_version"):
            meta["kv_version_applied"] = res.meta.get("written_version") or res.meta.get("live_version")
        return {"kind": self.name, "id": res.id, "meta": meta}


KINDS = [KVSecret()]
