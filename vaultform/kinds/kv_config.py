"""kv_config.<mount>: a KV v2 mount's settings (<mount>/config).

Defaults read back from OpenBao 2.7.2 for a fresh kv-v2 mount (and after
writing `{}`): max_versions 0 (Vault's own limit of 10 applies), cas_required
false, delete_version_after "0s" (a Go duration string: "720h" reads back as
"720h0m0s", so it is compared in seconds). KV v1 has no config endpoint.

The settings cannot be deleted, only set back: removing `kv:` from a mount
that stays in the spec writes the defaults again; with the mount itself gone
there is nothing to do (the settings go with it).
"""

from __future__ import annotations

from typing import List

from vaultform.kinds.base import KindDoc
from vaultform.kinds.engine_objects import SECTION, EngineObjectKind, is_kv2


class KVConfig(EngineObjectKind):
    name = "kv_config"
    engine = "kv"
    spec_key = "kv"
    spec_key_schema = {"$ref": "kv-config.schema.json#/$defs/config"}
    mount_condition = {"anyOf": [
        {"properties": {"type": {"const": "kv-v2"}}, "required": ["type"]},
        {"properties": {"type": {"const": "kv"}, "options": {"required": ["version"],
                                                            "properties": {"version": {"enum": ["2", 2]}}}},
         "required": ["type", "options"]}]}
    misplaced_message = "only a KV v2 mount has these settings (type kv-v2, or kv with options.version 2)"
    doc = KindDoc("secrets_engines.<path>.kv (KV v2)", "<path>/config",
                  "a KV v2 mount's settings: max_versions, cas_required, delete_version_after",
                  address="kv_config.<path>")
    object_path_suffix = "config"
    segment = "config"
    what = "KV settings"
    defaults = {"max_versions": 0, "cas_required": False, "delete_version_after": 0}
    durations = frozenset({"delete_version_after"})

    def serves(self, body) -> bool:
        return is_kv2(body)

    def serves_live(self, entry) -> bool:
        return False  # nothing to prune: one per mount

    def delete(self, ctx, res) -> None:
        mount = res.id
        if mount in ctx.spec.section(SECTION):
            ctx.api.write(res.meta["path"], dict(self.defaults))

    def destroy_notes(self, ctx, res) -> List[str]:
        if res.id in ctx.spec.section(SECTION):
            return [f"{res.id}/config cannot be deleted: its settings are set back to Vault's defaults"]
        return [f"{res.id}/config goes when secrets_engine.{res.id} is disabled"]


KINDS = [KVConfig()]
