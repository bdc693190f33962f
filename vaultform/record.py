"""The ownership record: which objects vaultform manages, kept inside Vault.

There is no state file. A small JSON document in a KV v2 mount (default
`vaultform/managed-objects`) lists each managed object's address and Vault
identity, and for write-only fields an HMAC fingerprint (key kept beside it),
so "removed from the spec" can be told apart from "made by hand". It never
holds a secret value: secrets are kept as one HMAC fingerprint per key and
the KV version applied, which is what lets a planner token that cannot read
secret data still see changes (kinds/kv_secret.py).
"""

from __future__ import annotations

import hashlib
import json
import hmac
import secrets
import threading
import time
from typing import Dict, Optional

from vaultform import __version__

FORMAT = 1


class Record:
    def __init__(self, mount: str, path: str, objects: Optional[Dict[str, dict]] = None,
                 exists: bool = False, version: Optional[int] = None):
        self.mount = mount
        self.path = path
        self.objects: Dict[str, dict] = dict(objects or {})
        self.exists = exists
        self.version = version
        self._key: Optional[bytes] = None
        self._key_read = False
        self._new_key = False
        self.dirty = False
        # What this run read of objects whose entry describes their live state
        # (a secret's KV version and fingerprints): an object adopted unchanged
        # is recorded from it, as nothing was written.
        self.observed: Dict[str, dict] = {}
        # Kinds read (and so fingerprint and refresh entries) on a thread pool.
        self._lock = threading.RLock()

    # Addresses under the record's own mount are vaultform's, never the user's.
    def is_own_mount(self, mount_path: str) -> bool:
        return mount_path.strip("/") == self.mount.strip("/")

    @classmethod
    def load(cls, api, location: dict) -> "Record":
        mount, path = location["mount"].strip("/"), location["path"].strip("/")
        if api is None:
            return cls(mount, path)
        response = api.read(f"{mount}/data/{path}")
        if not response or not response.get("data") or response["data"].get("data") is None:
            return cls(mount, path)
        data = response["data"]["data"]
        version = (response["data"].get("metadata") or {}).get("version")
        objects = data.get("objects") or {}
        if isinstance(objects, str):
            objects = json.loads(objects)
        return cls(mount, path, objects=objects, exists=True, version=version)

    def set(self, address: str, entry: dict) -> None:
        with self._lock:
            if self.objects.get(address) != entry:
                self.objects[address] = entry
                self.dirty = True

    def remove(self, address: str) -> None:
        with self._lock:
            if address in self.objects:
                del self.objects[address]
                self.dirty = True

    # -- fingerprints of write-only values and secret values -------------
    @property
    def fingerprint_key_path(self) -> str:
        return f"{self.mount}/data/{self.path}-fingerprint-key"

    def _read_stored_key(self, api) -> Optional[bytes]:
        with self._lock:
            if not self._key_read:
                response = api.read(self.fingerprint_key_path)
                stored = ((response or {}).get("data") or {}).get("data") or {}
                if stored.get("key") and self._key is None:
                    self._key = bytes.fromhex(stored["key"])
                self._key_read = True
            return self._key

    def has_fingerprint_key(self, api) -> bool:
        """Whether recorded fingerprints can be compared: a key is stored in
        Vault. Never makes one (a read-only planner token could not store it),
        and a key made by this run has fingerprinted nothing recorded yet."""
        with self._lock:
            return self._read_stored_key(api) is not None and not self._new_key

    def _fingerprint_key(self, api) -> bytes:
        with self._lock:  # one key per run, even when reader threads ask at once
            if self._read_stored_key(api) is None:
                self._key = secrets.token_bytes(32)
                self._new_key = True
            return self._key

    def fingerprint(self, api, value: str) -> str:
        digest = hmac.new(self._fingerprint_key(api), value.encode("utf-8"), hashlib.sha256)
        return "hmac-sha256:" + digest.hexdigest()

    def ensure_mount(self, api, mounts: dict) -> None:
        if self.mount not in mounts:
            api.write(f"sys/mounts/{self.mount}", {
                "type": "kv", "options": {"version": "2"},
                "description": "vaultform: record of managed objects (no secret values)"})
            mounts[self.mount] = {"type": "kv", "options": {"version": "2"}}

    def save_fingerprint_key(self, api, mounts: dict) -> None:
        """Persist a newly made fingerprint key now (a saved plan needs it to
        be the same when the plan is applied)."""
        self._fingerprint_key(api)
        if self._new_key:
            self.ensure_mount(api, mounts)
            api.write(self.fingerprint_key_path, {"data": {"key": self._key.hex()}})
            self._new_key = False

    def save(self, api, mounts: dict) -> None:
        if not self.dirty:
            return
        self.ensure_mount(api, mounts)
        if self._new_key:
            self.save_fingerprint_key(api, mounts)
        api.write(f"{self.mount}/data/{self.path}", {"data": {
            "format": FORMAT, "written_by": f"vaultform {__version__}",
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            # One JSON string, not a nested object: OpenBao refuses request
            # bodies with more than a few thousand JSON strings, which a
            # record of a few hundred objects would exceed.
            "objects": json.dumps(self.objects, sort_keys=True, separators=(",", ":"))}})
        self.exists = True
        self.dirty = False
