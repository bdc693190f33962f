"""The ownership record: which objects vaultform manages, kept inside Vault.

There is no state file. The record lives in a KV v2 mount (default
`vaultform/`) under the record's path (default `managed-objects`), split in
up to 256 shards: `<path>/<xx>`, where `xx` is the first byte of the SHA-256
of an object's address. Each shard is one small KV entry holding the entries
of the objects that hash to it, so:

- no storage entry comes near raft's 1 MiB limit (100,000 objects make
  shards of about 120 KB, docs/ownership.md has the figures);
- an apply rewrites only the shards whose entries it changed;
- every shard write is a KV v2 check-and-set on the version this run read.
  A mismatch (someone wrote the shard since) re-reads it and replays only
  this run's own changes on top, so no one's entries are lost.

An entry lists an object's address and Vault identity, HMAC fingerprints of
write-only fields and secret values (the key is kept beside the record), and
a fingerprint of the state applied, so "removed from the spec" can be told
apart from "made or changed by hand". It never holds a secret value.

Format 1 (vaultform 0.1: the whole record as one JSON string in one entry at
`<path>`) is read, and moved into shards by the first apply that saves.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Optional, Tuple

from vaultform import __version__
from vaultform.concurrency import adaptive_map
from vaultform.errors import VaultformError, VaultRequestError

FORMAT = 2
# Raft refuses entries over 1 MiB (max_entry_size); KV v2 wraps the data in
# its own envelope, so a shard must stay well below.
MAX_SHARD_BYTES = 768 * 1024
_CAS_MISMATCH = "check-and-set parameter did not match"
# Shard writes are raft commits: more in flight share fsyncs (the apply's own
# writes find the best number as they go, vaultform/concurrency.py).
_WRITERS = 16
_SAVE_ATTEMPTS = 5


class RecordError(VaultformError):
    """The record cannot be read or written as it must be."""


def shard_of(address: str) -> str:
    return hashlib.sha256(address.encode("utf-8")).hexdigest()[:2]


def encode_shard(objects: Dict[str, dict]) -> str:
    # One JSON string, not a nested object: OpenBao refuses request bodies
    # with more than a few thousand JSON strings.
    return json.dumps(objects, sort_keys=True, separators=(",", ":"))


class _Shard:
    __slots__ = ("name", "objects", "version")

    def __init__(self, name: str, objects: Dict[str, dict], version: int):
        self.name, self.objects, self.version = name, objects, version


class Record:
    def __init__(self, mount: str, path: str):
        self.mount = mount.strip("/")
        self.path = path.strip("/")
        self.objects: Dict[str, dict] = {}
        self._shards: Dict[str, _Shard] = {}
        # This run's own changes since loading: address -> entry, or None for
        # removed. Replayed on a fresh read when a shard moved under us.
        self._changes: Dict[str, Optional[dict]] = {}
        self._legacy_version: Optional[int] = None  # a format-1 document still to retire
        self._key: Optional[bytes] = None
        self._key_read = False
        self._new_key = False
        # What this run read of objects whose entry describes their live state
        # (a secret's KV version and fingerprints): an object adopted unchanged
        # is recorded from it, as nothing was written.
        self.observed: Dict[str, dict] = {}
        # Kinds read (and so fingerprint) on a thread pool.
        self._lock = threading.RLock()

    # Addresses under the record's own mount are vaultform's, never the user's.
    def is_own_mount(self, mount_path: str) -> bool:
        return mount_path.strip("/") == self.mount

    @property
    def exists(self) -> bool:
        return bool(self._shards) or self._legacy_version is not None

    @property
    def dirty(self) -> bool:
        return bool(self._changes) or (self._legacy_version is not None and bool(self.objects))

    # -- where things are ------------------------------------------------
    def _data(self, key: str) -> str:
        return f"{self.mount}/data/{key}"

    def shard_key(self, shard: str) -> str:
        return f"{self.path}/{shard}"

    @property
    def fingerprint_key_path(self) -> str:
        return self._data(f"{self.path}-fingerprint-key")

    # -- loading ------------------------------------------------------------
    @classmethod
    def load(cls, api, location: dict) -> "Record":
        record = cls(location["mount"], location["path"])
        if api is not None:
            record._load(api)
        return record

    def _load(self, api) -> None:
        names = [n for n in api.list(f"{self.mount}/metadata/{self.path}/") if _is_shard_name(n)]
        shards = adaptive_map(lambda n: self._read_shard(api, n), names,
                              pushback=lambda: getattr(api, "pushback", 0), name="vaultform-record")
        for shard in shards:
            if shard.version:
                self._shards[shard.name] = shard
                self.objects.update(shard.objects)
        self._load_legacy(api)

    def _read_shard(self, api, name: str) -> _Shard:
        response = api.read(self._data(self.shard_key(name)))
        body = (response or {}).get("data") or {}
        data = body.get("data")
        version = int((body.get("metadata") or {}).get("version") or 0)
        if data is None:
            if version == 0:
                # Deleted by hand, or never written: a CAS write must name
                # the current version all the same.
                metadata = (api.read(f"{self.mount}/metadata/{self.shard_key(name)}") or {}).get("data") or {}
                version = int(metadata.get("current_version") or 0)
            return _Shard(name, {}, version)
        if data.get("format") != FORMAT:
            raise RecordError(f"the ownership record shard {self.mount}/{self.shard_key(name)} has format "
                              f"{data.get('format')!r}; this vaultform ({__version__}) reads format {FORMAT}")
        try:
            objects = json.loads(data.get("objects") or "{}")
        except ValueError:
            raise RecordError(f"the ownership record shard {self.mount}/{self.shard_key(name)} "
                              "is not valid JSON; it was edited by hand") from None
        return _Shard(name, objects, version)

    def _load_legacy(self, api) -> None:
        response = api.read(self._data(self.path))
        body = (response or {}).get("data") or {}
        data = body.get("data")
        if not data or data.get("format") == FORMAT:
            return  # never there, or already moved into shards
        objects = data.get("objects") or {}
        if isinstance(objects, str):
            objects = json.loads(objects)
        self._legacy_version = int((body.get("metadata") or {}).get("version") or 0)
        for address, entry in objects.items():
            self.objects.setdefault(address, entry)

    # -- changing entries -----------------------------------------------------
    def set(self, address: str, entry: dict) -> None:
        with self._lock:
            if self.objects.get(address) != entry:
                self.objects[address] = entry
                self._changes[address] = entry

    def remove(self, address: str) -> None:
        with self._lock:
            if address in self.objects:
                del self.objects[address]
                self._changes[address] = None

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
            try:
                api.write(f"sys/mounts/{self.mount}", {
                    "type": "kv", "options": {"version": "2"},
                    "description": "vaultform: record of managed objects (no secret values)"})
            except VaultRequestError as exc:
                if "path is already in use" not in exc.message:
                    raise  # else: a concurrent first run made it
            mounts[self.mount] = {"type": "kv", "options": {"version": "2"}}

    def save_fingerprint_key(self, api, mounts: dict) -> None:
        """Persist a newly made fingerprint key now (a saved plan needs it to
        be the same when the plan is applied). Check-and-set 0: two first
        runs cannot both store one, and the loser must not fingerprint with
        a key nobody keeps."""
        self._fingerprint_key(api)
        if not self._new_key:
            return
        self.ensure_mount(api, mounts)
        try:
            api.write(self.fingerprint_key_path, {"options": {"cas": 0}, "data": {"key": self._key.hex()}})
        except VaultRequestError as exc:
            if _CAS_MISMATCH not in exc.message:
                raise
            raise RecordError(f"the fingerprint key {self.fingerprint_key_path} was stored by another run "
                              "meanwhile; run again") from None
        self._new_key = False

    # -- saving -----------------------------------------------------------------
    def save(self, api, mounts: dict) -> int:
        """Write the shards this run changed; return how many were written."""
        with self._lock:
            if not self.dirty:
                return 0
            self.ensure_mount(api, mounts)
            if self._new_key:
                self.save_fingerprint_key(api, mounts)
            changes = dict(self._changes)
            if self._legacy_version is not None:
                # Moving a format-1 record: every entry it held is written.
                changes = {**{a: e for a, e in self.objects.items()}, **changes}
            by_shard: Dict[str, Dict[str, Optional[dict]]] = {}
            for address, entry in changes.items():
                by_shard.setdefault(shard_of(address), {})[address] = entry
            # Shards are independent entries: written in parallel, like reads.
            with ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="vaultform-record") as pool:
                futures = {pool.submit(self._save_shard, api, name, shard_changes): shard_changes
                           for name, shard_changes in sorted(by_shard.items())}
            failure = None
            for future, shard_changes in futures.items():
                if future.exception() is not None:
                    failure = failure or future.exception()
                    continue
                for address in shard_changes:  # saved: a failure keeps only the rest pending
                    self._changes.pop(address, None)
            if failure is not None:
                raise failure
            if self._legacy_version is not None:
                self._retire_legacy(api)
            return len(by_shard)

    def _save_shard(self, api, name: str, shard_changes: Dict[str, Optional[dict]]) -> None:
        shard = self._shards.get(name) or _Shard(name, {}, 0)
        for _ in range(_SAVE_ATTEMPTS):
            objects = dict(shard.objects)
            for address, entry in shard_changes.items():
                if entry is None:
                    objects.pop(address, None)
                else:
                    objects[address] = entry
            if objects == shard.objects and shard.version:
                self._shards[name] = shard
                return  # someone else wrote exactly this meanwhile
            encoded = encode_shard(objects)
            if len(encoded.encode("utf-8")) > MAX_SHARD_BYTES:
                raise RecordError(f"the ownership record shard {self.mount}/{self.shard_key(name)} would hold "
                                  f"{len(encoded)} bytes, over the {MAX_SHARD_BYTES} this vaultform allows "
                                  "(raft refuses entries over 1 MiB); the record cannot grow further")
            try:
                response = api.write(self._data(self.shard_key(name)), {
                    "options": {"cas": shard.version},
                    "data": {"format": FORMAT, "written_by": f"vaultform {__version__}", "objects": encoded}})
            except VaultRequestError as exc:
                if _CAS_MISMATCH not in exc.message:
                    raise RecordError(f"cannot write the ownership record shard "
                                      f"{self.mount}/{self.shard_key(name)}: {exc.message}") from None
                shard = self._read_shard(api, name)  # moved since we read it: replay our changes on it
                continue
            version = int(((response or {}).get("data") or {}).get("version") or 0)
            if not version:
                raise RecordError(f"cannot write the ownership record shard {self.mount}/{self.shard_key(name)}: "
                                  f"Vault did not confirm the write (is {self.mount}/ a KV v2 mount?)")
            self._shards[name] = _Shard(name, objects, version)
            return
        raise RecordError(f"the ownership record shard {self.mount}/{self.shard_key(name)} kept changing "
                          "while it was written; run again")

    def _retire_legacy(self, api) -> None:
        """Leave a marker where the format-1 record was: older vaultform reads
        it as an empty record (and so deletes nothing), and this one skips it."""
        try:
            api.write(self._data(self.path), {"options": {"cas": self._legacy_version}, "data": {
                "format": FORMAT, "objects": "{}", "moved_to": f"{self.mount}/{self.path}/"}})
        except VaultRequestError as exc:
            if _CAS_MISMATCH not in exc.message:
                raise
            # Someone else retired (or rewrote) it meanwhile; the shards hold ours.
        self._legacy_version = None

    def size_report(self) -> Tuple[int, int]:
        """(shards, largest shard in bytes), as they were last read or written."""
        sizes = [len(encode_shard(s.objects)) for s in self._shards.values()]
        return len(sizes), max(sizes, default=0)


def _is_shard_name(name: str) -> bool:
    return len(name) == 2 and all(c in "0123456789abcdef" for c in name)

