"""Shared machinery for mounts: secrets engines (sys/mounts) and auth methods (sys/auth).

Both live in one table read once per run, are created with a POST to
sys/<table>/<path>, tuned in place through .../tune, and replaced (disable,
then enable: this destroys their data) when type, local or seal wrapping
change. Tuning fields are flattened to `config.<name>` so a plan names
exactly the field that moves.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from vaultform.kinds.base import Kind, prevent_destroy_change, record_only
from vaultform.model import ABSENT, FieldChange, Resource
from vaultform.normalize import duration_seconds, option_strings

DURATION_TUNING = ("default_lease_ttl", "max_lease_ttl")
LIST_TUNING = ("audit_non_hmac_request_keys", "audit_non_hmac_response_keys",
               "passthrough_request_headers", "allowed_response_headers")
MOUNT_FLAGS = ("local", "seal_wrap", "external_entropy_access")
# Tuning every mount type has. Unset, Vault leaves these out of its answer,
# and tuning "" / [] unsets them: so a field dropped from the spec goes back.
COMMON_TUNING_DEFAULTS = {"listing_visibility": "", **{name: [] for name in LIST_TUNING}}


def mount_splits(key: str, known_mounts) -> List[Tuple[str, str]]:
    """The ways a `<mount>/<path>` key can split into a mount and a path.

    One way when a known mount prefixes it (the longest such mount). When
    none does, every way, shortest mount first: planning against Vault (which
    knows every mount) takes the first, and the offline planner policy, which
    knows only the spec's mounts, allows them all, so it covers the mount
    Vault turns out to have. The one function both use, so they agree."""
    parts = key.split("/")
    for i in range(len(parts) - 1, 0, -1):
        mount = "/".join(parts[:i])
        if mount in known_mounts:
            return [(mount, "/".join(parts[i:]))]
    return [("/".join(parts[:i]), "/".join(parts[i:])) for i in range(1, len(parts))]


def kv_version(mount_type: str, options: Optional[dict]) -> Optional[str]:
    if mount_type == "kv-v2":
        return "2"
    if mount_type in ("kv", "kv-v1"):
        return str((options or {}).get("version", "1"))
    return None


class MountKind(Kind):
    table = ""            # "mounts" or "auth"
    section = ""          # spec section
    tune_key = ""         # spec key holding tuning fields
    builtins: frozenset = frozenset()
    tuning_defaults: Dict[str, Any] = {}
    replace_fields = frozenset({"type", "local", "seal_wrap", "external_entropy_access"})
    destroys_contents = True
    defaults = {"description": "", "options": {}, "local": False, "seal_wrap": False,
                "external_entropy_access": False}

    # -- normalisation -----------------------------------------------------
    def _normalise(self, mount_type: str, options: Any, tuning: dict, flags: dict,
                   description: str, extra: dict) -> Dict[str, Any]:
        version = kv_version(mount_type, options)
        if version is not None:
            mount_type, options = "kv", {"version": version}
        fields: Dict[str, Any] = {"type": mount_type, "description": description or "",
                                  "options": option_strings(options)}
        for name, default in self.tuning_defaults.items():
            fields[f"config.{name}"] = default
        for name, value in (tuning or {}).items():
            if name in DURATION_TUNING:
                value = duration_seconds(value)
            elif name in LIST_TUNING:
                value = list(value or [])
            fields[f"config.{name}"] = value
        for name in MOUNT_FLAGS:
            fields[name] = bool(flags.get(name, False))
        fields.update(extra)
        return fields

    def resources(self, spec, ctx) -> List[Resource]:
        out = []
        for path, body in spec.section(self.section).items():
            extra = {"plugin_version": body["plugin_version"]} if "plugin_version" in body else {}
            desired = self._normalise(body["type"], body.get("options"), body.get(self.tune_key),
                                      body, body.get("description", ""), extra)
            out.append(Resource(kind=self, address=f"{self.name}.{path}", id=path, desired=desired,
                                location=spec.key_loc(self.section, path),
                                prevent_destroy=bool(body.get("prevent_destroy")),
                                meta={"record": {"type": desired["type"]},
                                      "deletable": bool(body.get("deletable"))}))
        return out

    def table_entries(self, ctx) -> Dict[str, dict]:
        return ctx.secret_mounts() if self.table == "mounts" else ctx.auth_mounts()

    def read(self, ctx, res: Resource) -> Optional[Dict[str, Any]]:
        entry = self.table_entries(ctx).get(res.id)
        if entry is None:
            return None
        config = {k: v for k, v in (entry.get("config") or {}).items()
                  if k in self.tuning_defaults}
        wants_version = "plugin_version" in (res.desired or {}) or "plugin_version" in res.meta.get("state_fields", ())
        extra = {"plugin_version": entry.get("plugin_version", "")} if wants_version else {}
        return self._normalise(entry.get("type", ""), entry.get("options"), config, entry,
                               entry.get("description", ""), extra)

    def diff(self, ctx, res, live) -> List[FieldChange]:
        changes = super().diff(ctx, res, live)
        for change in changes:
            # KV v1 upgrades to v2 in place; any other option change on kv
            # (a downgrade) can only be done by re-creating the mount.
            if change.name == "options" and res.desired.get("type") == "kv":
                before = (change.before or {}).get("version", "1") if change.before is not ABSENT else "1"
                change.forces_replace = not (before == "1" and change.after.get("version") == "2")
        return changes + prevent_destroy_change(ctx, res)

    def change_reason(self, change) -> str:
        if record_only(change.fields):
            return "prevent_destroy changed in the spec; only the ownership record is written"
        return change.reason

    def _payload(self, res: Resource) -> dict:
        desired = res.desired
        config = {k.split(".", 1)[1]: v for k, v in desired.items() if k.startswith("config.")}
        payload = {"type": desired["type"], "description": desired["description"], "config": config}
        if desired["options"]:
            payload["options"] = desired["options"]
        for name in MOUNT_FLAGS:
            payload[name] = desired[name]
        if "plugin_version" in desired:
            payload["plugin_version"] = desired["plugin_version"]
        return payload

    def create(self, ctx, res: Resource) -> None:
        ctx.api.write(f"sys/{self.table}/{res.id}", self._payload(res))
        self.table_entries(ctx)[res.id] = {"type": res.desired["type"], "options": res.desired["options"]}

    def update(self, ctx, res: Resource, live, changes: List[FieldChange]) -> None:
        tune: Dict[str, Any] = {}
        for change in changes:
            if change.name.startswith("config."):
                tune[change.name.split(".", 1)[1]] = change.after
            elif change.name in ("description", "options", "plugin_version"):
                tune[change.name] = change.after
        # A prevent_destroy change lives in the ownership record only: the
        # executor rewrites the record entry after this, which is all it takes.
        if tune:
            ctx.api.write(f"sys/{self.table}/{res.id}/tune", tune)

    def delete(self, ctx, res: Resource) -> None:
        ctx.api.delete(f"sys/{self.table}/{res.id}")
        self.table_entries(ctx).pop(res.id, None)

    def discover(self, ctx) -> List[Resource]:
        return [Resource(kind=self, address=f"{self.name}.{path}", id=path)
                for path in sorted(self.table_entries(ctx))
                if path not in self.builtins and not self.is_vaultform_own(ctx, path)]

    def is_vaultform_own(self, ctx, path: str) -> bool:
        return False
