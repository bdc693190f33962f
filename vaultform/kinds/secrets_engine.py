"""secrets_engine.<path>: a secrets engine mount (sys/mounts)."""

from __future__ import annotations

from typing import List, Optional, Tuple

from vaultform.errors import PermissionDenied
from vaultform.kinds.base import KindDoc
from vaultform.kinds.mounts import COMMON_TUNING_DEFAULTS, MountKind, kv_version
from vaultform.names import segment_problem


class SecretsEngine(MountKind):
    name = "secrets_engine"
    rank = 30
    table = "mounts"
    section = "secrets_engines"
    counted_as = ("secrets engine", "secrets engines")
    tune_key = "config"
    prune_key = "secrets_engines"
    builtins = frozenset({"sys", "identity", "cubbyhole"})
    section_schema = {
        "type": "object",
        "description": "Secrets engines keyed by mount path.",
        "propertyNames": {"$ref": "common.schema.json#/$defs/mount_path"},
        "additionalProperties": {"$ref": "secrets-engine.schema.json"},
    }
    doc = KindDoc("secrets_engines.<path>", "sys/mounts/<path>", "a secrets engine mount with its options and "
                  "tuning; disabling it destroys everything stored under it", address="secrets_engine.<path>")
    tuning_defaults = {"default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": False, **COMMON_TUNING_DEFAULTS}
    # Measured on OpenBao 2.7.2: force_no_cache is taken when the engine is
    # enabled, and silently ignored by tune; changing it means re-creating it.
    replace_fields = MountKind.replace_fields | {"config.force_no_cache"}

    def is_vaultform_own(self, ctx, path: str) -> bool:
        return ctx.record.is_own_mount(path)

    def destroy_notes(self, ctx, res) -> List[str]:
        entry = self.table_entries(ctx).get(res.id) or {}
        version = kv_version(entry.get("type", ""), entry.get("options"))
        if version is None:
            return [f"disabling {res.id}/ destroys everything stored under it"]
        try:
            keys, complete = list_kv_secrets(ctx.api, res.id, version)
        except PermissionDenied:  # a least-privilege planner token may not list keys: still plan
            res.meta["contents"] = {"what": "secret(s)", "count": None, "names": None}
            return [f"disabling {res.id}/ destroys every secret stored under it (this token cannot list them)"]
        count = str(len(keys)) if complete else f"at least {len(keys)}"
        # What the destroy takes with it, for a saved plan to check at apply
        # time (planfile.py): a secret written since the review would go too.
        res.meta["contents"] = {"what": "secret(s)", "count": count, "names": sorted(keys)}
        return [f"disabling {res.id}/ destroys {count} secret(s) stored under it"]


# How many secrets a walk of one KV mount returns at most.
KV_LIST_LIMIT = 10000


def list_kv_secrets(api, mount: str, version: str, limit: int = KV_LIST_LIMIT,
                    unwalkable: Optional[List[str]] = None) -> Tuple[List[str], bool]:
    """The secrets' paths under the mount, and whether that is all of them
    (the walk stops after `limit`). A folder made by hand whose name no URL
    can carry as a name ('#', '?', '%', a control character: names.py) is
    not listed: it goes into `unwalkable` when given, and the walk is then
    not complete."""
    base = f"{mount}/metadata" if version == "2" else mount
    found: List[str] = []
    pending = [""]
    skipped = False
    while pending and len(found) < limit:
        prefix = pending.pop()
        for key in api.list(f"{base}/{prefix}".rstrip("/")):
            if key.endswith("/"):
                if segment_problem(key[:-1]) is not None:
                    skipped = True
                    if unwalkable is not None:
                        unwalkable.append(prefix + key)
                    continue
                pending.append(prefix + key)
            else:
                found.append(prefix + key)
    return found, not pending and not skipped


KINDS = [SecretsEngine()]
