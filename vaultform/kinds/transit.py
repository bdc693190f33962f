"""transit_key.<mount>/<name>: a named key of a transit engine (<mount>/keys/<name>).

Defaults read back from OpenBao 2.7.2 for a key created with `{}`:
type aes256-gcm96, derived false, exportable false, allow_plaintext_backup
false, deletion_allowed false, min_decryption_version 1,
min_encryption_version 0, auto_rotate_period 0 ("720h" reads back 2592000;
anything between 0 and 1h is refused: "auto rotate period must be 0 to
disable or at least an hour").

What the key is made of is fixed when it is created: a POST to keys/<name>
of an existing key changes nothing (measured: writing type rsa-2048 to an
aes256-gcm96 key answers 204 and keeps it), so type, derived,
convergent_encryption and key_size force a replacement. exportable and
allow_plaintext_backup can be switched on later but never off again
(keys/<name>/config ignores false once true), so true -> false replaces too.

A replacement deletes the key, and with it every version of it: whatever
was encrypted with it can never be decrypted again. So deleting or
replacing a key needs --allow-destroy (or the spec's consent, like a mount:
`deletable`, `allow_destroy`), prevent_destroy protects it outright, and
Vault itself refuses unless the key's deletion_allowed is true: the plan
says so up front instead of failing half-way through an apply.
"""

from __future__ import annotations

from typing import List

from vaultform.kinds.base import KindDoc
from vaultform.kinds.engine_objects import EngineObjectKind
from vaultform.model import FieldChange

CREATE_FIELDS = ("type", "derived", "convergent_encryption", "key_size", "exportable",
                 "allow_plaintext_backup", "auto_rotate_period")
CONFIG_FIELDS = ("deletion_allowed", "exportable", "allow_plaintext_backup", "min_decryption_version",
                 "min_encryption_version", "auto_rotate_period")
ONE_WAY = ("exportable", "allow_plaintext_backup")


class TransitKey(EngineObjectKind):
    name = "transit_key"
    engine = "transit"
    spec_key = "keys"
    spec_key_schema = {"$ref": "transit.schema.json#/$defs/keys"}
    misplaced_message = "only a transit engine has keys"
    doc = KindDoc("secrets_engines.<path>.keys.<name> (type transit)", "<path>/keys/<name>",
                  "a transit key: type, exportable, deletion_allowed, min_decryption_version, auto-rotation",
                  address="transit_key.<path>/<name>")
    many = True
    object_dir = "keys"
    segment = "keys"
    what = "transit key"
    prune_key = "transit_keys"
    protectable = True
    destroys_contents = True
    destroy_verb = "delete"
    defaults = {"type": "aes256-gcm96", "derived": False, "exportable": False, "allow_plaintext_backup": False,
                "deletion_allowed": False, "min_decryption_version": 1, "min_encryption_version": 0,
                "auto_rotate_period": 0}
    durations = frozenset({"auto_rotate_period"})
    replace_fields = frozenset({"type", "derived", "convergent_encryption", "key_size"})

    def live_from(self, res, data):
        live = super().live_from(res, data)
        # convergent_encryption is only in Vault's answer for a derived key.
        if "convergent_encryption" in (res.desired or {}):
            live.setdefault("convergent_encryption", bool(data.get("convergent_encryption", False)))
        return live

    def diff(self, ctx, res, live) -> List[FieldChange]:
        changes = super().diff(ctx, res, live)
        for change in changes:
            if change.name in ONE_WAY and change.before is True and change.after is False:
                change.forces_replace = True  # Vault cannot switch it off again
        return changes

    def create(self, ctx, res) -> None:
        desired = res.desired
        ctx.api.write(res.meta["path"], {k: desired[k] for k in CREATE_FIELDS if k in desired})
        config = {k: desired[k] for k in ("deletion_allowed", "min_decryption_version", "min_encryption_version")
                  if k in desired and desired[k] != self.defaults.get(k)}
        if config:
            ctx.api.write(f"{res.meta['path']}/config", config)

    def update(self, ctx, res, live, changes) -> None:
        config = {c.name: c.after for c in changes if c.name in CONFIG_FIELDS}
        if config:  # a prevent_destroy change alone lives in the ownership record only
            ctx.api.write(f"{res.meta['path']}/config", config)

    def delete(self, ctx, res) -> None:
        # Vault refuses unless deletion_allowed; the plan let a key without it
        # through only because its mount is disabled too, which destroys it.
        live = ctx.api.read(res.meta["path"])
        if live and (live.get("data") or {}).get("deletion_allowed"):
            ctx.api.delete(res.meta["path"])

    def destroy_notes(self, ctx, res) -> List[str]:
        notes = [f"deleting {res.meta['path']} destroys the key and all its versions: "
                 "what was encrypted with it can never be decrypted again"]
        live = (ctx.api.read(res.meta["path"]) or {}).get("data") or {}
        mount = res.id.rsplit("/", 1)[0]
        if live and not live.get("deletion_allowed") and mount not in ctx.spec.section("secrets_engines"):
            # Allowed only because its mount goes too (refusal() says why otherwise).
            notes.append(f"its deletion_allowed is false: Vault keeps it until secrets_engine.{mount} is disabled, "
                         "which destroys it")
        return notes

    def refusal(self, change, changes) -> str:
        """Why Vault would refuse this plan's deletion of the key, or ""."""
        live = change.live or {}
        if change.action not in ("delete", "replace") or live.get("deletion_allowed"):
            return ""
        mount = change.resource.id.rsplit("/", 1)[0]
        if change.action == "delete" and any(c.address == f"secrets_engine.{mount}" and c.action in ("delete", "replace")
                                             for c in changes):
            return ""  # disabling the mount destroys it; nothing asks Vault to delete the key alone
        return (f"refusing to delete {change.address}: its deletion_allowed is false in Vault, which refuses "
                "to delete it; set deletion_allowed: true on it in the spec and apply first")


KINDS = [TransitKey()]
