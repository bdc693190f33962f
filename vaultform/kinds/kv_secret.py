"""secret.<mount>/<path>: a KV secret (v1 or v2), its values from sources.

The whole key set is managed: keys missing from the spec are removed.
Every value is sensitive. A generated value is made only when the key is
absent in Vault and is never overwritten afterwards.

A least-privilege planner token may read a secret's KV v2 metadata but not
its data. The ownership record keeps, per secret, an HMAC fingerprint of each
key's value and the KV version applied, so such a token still sees (a) values
the spec changes, by fingerprint, and (b) secrets written in Vault since the
last apply, by version. With data access the values are compared directly.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Dict, List, Optional, Tuple

from vaultform import values
from vaultform.errors import PermissionDenied, SpecError
from vaultform.kinds.base import Kind, KindDoc
from vaultform.kinds.mounts import kv_version, mount_splits
from vaultform.model import ABSENT, ALL_FIELDS, BOTH, MOVED_REASONS, SPEC, VAULT, FieldChange, Resource, moved_side
from vaultform.planner_rules import READ, Rule


def split_mount(ctx, spec, address_path: str) -> Tuple[str, str]:
    """Longest mount path (from the spec or Vault) that prefixes the secret's path."""
    return mount_splits(address_path, set(spec.section("secrets_engines")) | set(ctx.secret_mounts()))[0]


class _Hidden:
    """A value in Vault that this token is not allowed to read."""

    def __repr__(self) -> str:
        return "(not readable by this token)"


HIDDEN = _Hidden()


def _canonical(value: Any) -> Any:
    # The form Vault gives back (a 1.0 is returned as 1), so a value
    # fingerprints the same from the spec and as read from Vault.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def _deletion_passed(deletion_time: Optional[str]) -> bool:
    """Whether a KV v2 version's deletion_time is set and past. It is set in
    the future from the start when the mount has delete_version_after."""
    if not deletion_time:
        return False
    # RFC 3339 with up to nanoseconds ("2026-11-26T14:36:37.404511053Z"): keep microseconds.
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", deletion_time)
    if not match:
        return True  # unreadable: trust that it was set, as a deletion
    fraction = (match.group(2) or ".0")[:7]
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    when = datetime.fromisoformat(match.group(1) + fraction + zone)
    return when <= datetime.now(timezone.utc)


def value_fingerprint(ctx, res: Resource, name: str, value: Any) -> str:
    # Bound to the secret and the key: equal values elsewhere get different
    # fingerprints, so the record does not even tell which secrets share one.
    text = json.dumps([res.id, name, _canonical(value)], sort_keys=True, separators=(",", ":"), default=str)
    return ctx.record.fingerprint(ctx.api, text)


def value_fingerprints(ctx, res: Resource, data: Dict[str, Any]) -> Dict[str, str]:
    return {name: value_fingerprint(ctx, res, name, value) for name, value in data.items()}


def kv_v2_stored_number(number: int) -> Any:
    """The number KV v2 reads back for an integer written to it.

    KV v2 decodes the data it stores into 64-bit floats (KV v1 keeps the raw
    JSON) and encodes them back as Go does: below 1e21 the shortest digits
    that identify the float, written out in full (2**60 comes back as
    1152921504606847000), above it in exponent form."""
    as_float = float(number)  # OverflowError: beyond any float
    if abs(as_float) < 1e21:
        return int(Decimal(repr(as_float)))
    return as_float


def has_inexact_integer(value: Any) -> bool:
    """Whether a literal holds an integer that KV v2 would not give back as
    written: Vault would hold a different number than the spec says, and every
    later plan would write it again without ever converging."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        try:
            return kv_v2_stored_number(value) != value
        except OverflowError:
            return True
    if isinstance(value, dict):
        return any(has_inexact_integer(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_inexact_integer(v) for v in value)
    return False


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
    section = "secrets"
    counted_as = ("secret", "secrets")
    section_schema = {
        "type": "object",
        "description": "KV secrets keyed by <mount>/<path>; values come from env, files or generators.",
        "propertyNames": {"pattern": "^[^/\\s]+(/[^/\\s]+)+$"},
        "additionalProperties": {"$ref": "secret.schema.json"},
    }
    doc = KindDoc("secrets.<mount>/<path>", "<mount>/data/<path> (KV v2), <mount>/<path> (KV v1)",
                  "a KV secret; every key's value from {env}, {file} or {generate}; keys not in the spec are removed",
                  address="secret.<mount>/<path>")

    def planner_rules(self, spec, wildcards):
        rules: List[Rule] = []
        notes: List[str] = []
        per_mount: Dict[str, Rule] = {}
        engines = spec.section("secrets_engines")
        for key in sorted(spec.section("secrets")):
            for mount, path in mount_splits(key, engines):
                body = engines.get(mount)
                version = kv_version(body["type"], body.get("options")) if body else None
                if body and version is None:
                    continue  # not a KV mount: the spec's checks say so
                if version == "1":
                    notes.append(f"secret.{key} is KV v1, which keeps no metadata: changes made to it in Vault "
                                 "cannot be seen with this policy (changes in the spec can)")
                    continue
                assumed = "" if body else f" ({mount}/ is not in secrets_engines: assumed KV v2)"
                if wildcards:
                    per_mount.setdefault(mount, Rule(f"{mount}/metadata/*", READ,
                                                     f"metadata (never data) of the secrets in {mount}/{assumed}"))
                else:
                    rules.append(Rule(f"{mount}/metadata/{path}", READ,
                                      f"secret.{key}: metadata only, never data{assumed}"))
        return rules + list(per_mount.values()), notes

    def checks(self, spec):
        problems = []
        engines = spec.section("secrets_engines")
        for key in spec.section("secrets"):
            (mount, _), *others = mount_splits(key, engines)
            body = engines.get(mount)
            if body is not None and not others and kv_version(body["type"], body.get("options")) is None:
                problems.append(SpecError(f"{mount}/ is not a KV mount", location=spec.key_loc("secrets", key),
                                          field=f"secrets.{key}"))
        return problems, []

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
            if (version or "2") == "2":
                for name, value in data.items():
                    if has_inexact_integer(value):  # the value itself is secret: never in the message
                        raise SpecError("holds an integer that KV v2 cannot store exactly (it keeps numbers as "
                                        "64-bit floats: past 2^53 Vault would hold a different number, and every "
                                        "plan would write it again): quote it to store it as a string",
                                        location=spec.loc("secrets", key, name), field=f"secrets.{key}.{name}")
            deps = [f"secrets_engine.{mount}"] if mount in spec.section("secrets_engines") else []
            settings = (spec.section("secrets_engines").get(mount) or {}).get("kv") or {}
            if settings:
                deps.append(f"kv_config.{mount}")  # cas_required must be known before a write needs it
            out.append(Resource(kind=self, address=f"secret.{key}", id=key, desired=desired,
                                location=spec.key_loc("secrets", key), depends_on=deps, sensitive={ALL_FIELDS},
                                meta={"mount": mount, "path": path, "version": version or "2",
                                      "cas_required": bool(settings.get("cas_required")),
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
        if entry is None:
            return None  # no such mount (yet): nothing can be stored under it, no need to ask
        stored = kv_version(entry.get("type", ""), entry.get("options")) if entry else None
        if res.desired is None and stored:
            res.meta["version"] = stored  # known from a record that may predate an upgrade: the mount knows
        if stored == "2" and res.meta["version"] == "1":
            return None  # a v2 mount becomes v1 only by being re-created: its data goes with it
        # A v1 mount that this plan upgrades to v2 keeps its data (Vault converts
        # it in place), so compare with what is stored now instead of planning
        # a write of the same values.
        version = "1" if stored == "1" else res.meta["version"]
        try:
            response = ctx.api.read(self._data_path(res, version))
        except PermissionDenied:
            return self._read_without_data(ctx, res, version)
        if not response or not response.get("data"):
            return None
        if version == "2":
            data = response["data"].get("data")  # None when the latest version is deleted
            if data is None:
                return None
            metadata = response["data"].get("metadata") or {}
            res.meta["live_version"] = metadata.get("version")
            res.meta["live_created"] = metadata.get("created_time")
            self._observed(ctx, res, data, res.meta["live_version"], res.meta["live_created"])
            return dict(data)
        self._observed(ctx, res, response["data"], None)
        return dict(response["data"])

    def listed_as(self, ctx, res):
        """The mount's top level: a secret whose first path segment is not
        there does not exist (KV v2 lists its metadata, so a secret whose
        latest version is deleted is still listed, and read)."""
        entry = ctx.secret_mounts().get(res.meta["mount"])
        stored = kv_version(entry.get("type", ""), entry.get("options")) if entry else None
        if stored is None or stored != res.meta["version"]:
            return None  # a mount this plan makes or upgrades: read() knows what to make of it
        first, below, _ = res.meta["path"].partition("/")
        top = f"{res.meta['mount']}/metadata" if stored == "2" else res.meta["mount"]
        return top, first + "/" if below else first

    def _observed(self, ctx, res, data: dict, kv_version_seen: Optional[int], created: Optional[str] = None) -> None:
        """Note what Vault holds now, so the record can describe it when
        nothing is written: an adopted secret, a record from before
        fingerprints, values rewritten by hand to what the spec says. The
        plan decides whether the record takes it (Plan.adopt); reading never
        changes the record."""
        ctx.record.observed[res.address] = self._entry(res, kv_version_seen, value_fingerprints(ctx, res, data),
                                                       created)

    def _read_without_data(self, ctx, res, version: str) -> Optional[Dict[str, Any]]:
        """A token refused the data (a planner token): existence and version
        from the KV v2 metadata; the values stay unknown."""
        if version == "2":
            response = ctx.api.read(f"{res.meta['mount']}/metadata/{res.meta['path']}")
            metadata = (response or {}).get("data")
            if not metadata:
                return None
            current = metadata.get("current_version")
            latest = (metadata.get("versions") or {}).get(str(current)) or {}
            if latest.get("destroyed") or _deletion_passed(latest.get("deletion_time")):
                return None  # what a data read would call absent
            res.meta["live_version"] = current
            res.meta["live_created"] = latest.get("created_time")
        res.meta["values_hidden"] = True
        recorded = (ctx.record.objects.get(res.address) or {}).get("fingerprints") or {}
        return {name: HIDDEN for name in recorded}

    def diff(self, ctx, res, live) -> List[FieldChange]:
        if res.meta.get("values_hidden"):
            return self._diff_by_fingerprint(ctx, res)
        self.settle_generated(res, live)
        changes = []
        for name in sorted(set(res.desired) | set(live)):
            want, have = res.desired.get(name, ABSENT), live.get(name, ABSENT)
            if want != have:
                changes.append(FieldChange(name, have, want, sensitive=True))
        if changes:
            self._say_which_side_moved(ctx, res)
        return changes

    def _say_which_side_moved(self, ctx, res) -> None:
        """The spec's values against the fingerprints recorded at the last
        apply, and what Vault holds now against the same: which side moved.
        Only fingerprints are compared; no value reaches the reason."""
        recorded = (ctx.record.objects.get(res.address) or {}).get("fingerprints")
        observed = (ctx.record.observed.get(res.address) or {}).get("fingerprints")
        if recorded is None or observed is None or not ctx.record.has_fingerprint_key(ctx.api):
            return  # never applied with fingerprints: it cannot tell
        generated = res.meta.get("generated") or set()
        spec = {n: f for n, f in value_fingerprints(ctx, res, res.desired).items() if n not in generated}
        spec_moved = spec != {n: f for n, f in recorded.items() if n not in generated}
        vault_moved = observed != recorded
        if spec_moved or vault_moved:
            res.meta["moved"] = moved_side(spec_moved, vault_moved)
            res.meta["plan_reason"] = MOVED_REASONS[res.meta["moved"]]

    def _diff_by_fingerprint(self, ctx, res) -> List[FieldChange]:
        """The diff for a token that cannot read the values: the spec's values
        against the fingerprints recorded at the last apply, and the KV
        version in Vault against the version applied. The reason says which."""
        entry = ctx.record.objects.get(res.address)
        recorded = (entry or {}).get("fingerprints")
        generated = {n for n, v in res.desired.items() if isinstance(v, values.Generated)}
        if generated:
            res.meta.setdefault("generated", set()).update(generated)
        # Apply writes the whole secret; a generated key keeps its value in Vault.
        rewritten = [n for n in sorted(res.desired) if n not in generated] or sorted(res.desired)
        everything = [FieldChange(n, HIDDEN, res.desired[n], sensitive=True) for n in rewritten]
        if entry is None:
            res.meta["plan_reason"] = (
                "exists in Vault but is not managed yet: this token cannot compare its values"
                if res.meta["version"] == "2" else
                "not managed yet: this token cannot read KV v1 data to tell whether it exists or differs")
            return everything
        if recorded is None or not ctx.record.has_fingerprint_key(ctx.api):
            res.meta["plan_reason"] = "no fingerprints yet: run apply once with a full token"
            return everything
        in_spec = []
        for name in sorted(set(res.desired) | set(recorded)):
            want = res.desired.get(name, ABSENT)
            if want is ABSENT:
                in_spec.append(FieldChange(name, HIDDEN, ABSENT, sensitive=True))
            elif name not in recorded:
                in_spec.append(FieldChange(name, ABSENT, want, sensitive=True))
            elif name not in generated and value_fingerprint(ctx, res, name, want) != recorded[name]:
                in_spec.append(FieldChange(name, HIDDEN, want, sensitive=True))
        applied = ((entry.get("meta") or {}).get("kv_version_applied"))
        current = res.meta.get("live_version")
        # KV v1 keeps no versions: what changed in Vault cannot be seen here.
        if res.meta["version"] != "2" or applied is None or current == applied:
            res.meta["plan_reason"] = "changed in the spec"
            res.meta["moved"] = SPEC if in_spec else None
            return in_spec
        moved = f"in Vault since the last apply (version {current}, applied {applied})"
        res.meta["plan_reason"] = f"changed in the spec and {moved}" if in_spec else f"changed {moved}"
        res.meta["moved"] = BOTH if in_spec else VAULT
        listed = {f.name for f in in_spec}
        return in_spec + [f for f in everything if f.name not in listed]

    def change_reason(self, change) -> str:
        return change.resource.meta.get("plan_reason") or change.reason

    @staticmethod
    def settle_generated(res, live: Optional[dict]) -> None:
        for name, want in list(res.desired.items()):
            if isinstance(want, values.Generated):
                # Each plan draws a new value: saved plans fingerprint these keys as "generated".
                res.meta.setdefault("generated", set()).add(name)
                have = (live or {}).get(name, ABSENT)
                res.desired[name] = have if have is not ABSENT else want.new_value()

    def create(self, ctx, res) -> None:
        self.settle_generated(res, None)
        payload = {"data": res.desired} if res.meta["version"] == "2" else res.desired
        if res.meta["version"] == "2" and res.meta.get("cas_required"):
            payload["options"] = {"cas": self._current_version(ctx, res)}
        response = ctx.api.write(self._data_path(res), payload)
        if res.meta["version"] == "2" and isinstance(response, dict):
            res.meta["written_version"] = (response.get("data") or {}).get("version")
            res.meta["written_created"] = (response.get("data") or {}).get("created_time")
        res.meta["written_fingerprints"] = value_fingerprints(ctx, res, res.desired)

    def _current_version(self, ctx, res) -> int:
        """The version a check-and-set write replaces (kv_config's cas_required),
        read just before the write: the one the plan read may be gone with a
        re-created mount. 0 for a secret that does not exist."""
        metadata = ctx.api.read(f"{res.meta['mount']}/metadata/{res.meta['path']}")
        return int(((metadata or {}).get("data") or {}).get("current_version") or 0)

    def delete(self, ctx, res) -> None:
        m, p = res.meta["mount"], res.meta["path"]
        # v2: remove every version and the metadata, as the spec no longer has it.
        ctx.api.delete(f"{m}/metadata/{p}" if res.meta["version"] == "2" else f"{m}/{p}")

    def record_entry(self, ctx, res) -> dict:
        if "written_fingerprints" in res.meta:
            return self._entry(res, res.meta.get("written_version"), res.meta["written_fingerprints"],
                               res.meta.get("written_created"))
        observed = ctx.record.observed.get(res.address)
        if observed is not None:
            return observed  # adopted unchanged: what Vault holds is what the spec says
        # Neither written nor read this run: keep what the record knew.
        return ctx.record.objects.get(res.address) or self._entry(res, None, None)

    def still_as_recorded(self, ctx, res, live, entry) -> bool:
        """Left as vaultform wrote it: the same KV v2 version written at the
        same time, or (KV v1, or an entry from before versions) values with
        the fingerprints recorded."""
        meta = entry.get("meta") or {}
        applied, created = meta.get("kv_version_applied"), meta.get("kv_created_time")
        if res.meta.get("version") == "2" and applied is not None:
            if res.meta.get("live_version") != applied:
                return False
            return created is None or res.meta.get("live_created") == created
        recorded = entry.get("fingerprints")
        if recorded is None or res.meta.get("values_hidden") or not ctx.record.has_fingerprint_key(ctx.api):
            return True  # nothing to compare with: trusted, as before
        observed = (ctx.record.observed.get(res.address) or {}).get("fingerprints")
        return observed == recorded

    def _entry(self, res, kv_version_applied: Optional[int], fingerprints: Optional[Dict[str, str]],
               created: Optional[str] = None) -> dict:
        meta = {"mount": res.meta["mount"], "path": res.meta["path"], "version": res.meta["version"]}
        if kv_version_applied:
            meta["kv_version_applied"] = kv_version_applied
        if created:
            # When that version was written: a secret deleted and written
            # again by hand restarts at version 1 but never at the same time.
            meta["kv_created_time"] = created
        entry = {"kind": self.name, "id": res.id, "meta": meta}
        if fingerprints is not None:
            entry["fingerprints"] = fingerprints  # HMACs only: never a value
        return entry


KINDS = [KVSecret()]
