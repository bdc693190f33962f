"""Read vaultform's ownership record straight from Vault, the way an operator
would: list the shards, read each, merge. Independent of vaultform/record.py
on purpose, so tests check the stored layout rather than trust the reader."""

from __future__ import annotations

import json
from typing import Dict, List, Tuple

import hvac


def shard_docs(client: hvac.Client, path: str = "managed-objects", mount: str = "vaultform") -> List[Tuple[str, dict]]:
    try:
        listed = client.list(f"{mount}/metadata/{path}/")
    except hvac.exceptions.InvalidPath:
        return []
    out = []
    for name in (listed or {}).get("data", {}).get("keys", []):
        body = client.read(f"{mount}/data/{path}/{name}")
        data = ((body or {}).get("data") or {}).get("data")
        if data is not None:
            out.append((name, data))
    return out


def recorded_objects(client: hvac.Client, path: str = "managed-objects", mount: str = "vaultform") -> Dict[str, dict]:
    objects: Dict[str, dict] = {}
    for _name, data in shard_docs(client, path, mount):
        assert data.get("format") == 2, data
        objects.update(json.loads(data["objects"]))
    return objects


def record_versions(client: hvac.Client, path: str = "managed-objects", mount: str = "vaultform") -> Dict[str, int]:
    """Each shard's KV version: any write of the record bumps one."""
    try:
        listed = client.list(f"{mount}/metadata/{path}/")
    except hvac.exceptions.InvalidPath:
        return {}
    return {name: client.read(f"{mount}/metadata/{path}/{name}")["data"]["current_version"]
            for name in (listed or {}).get("data", {}).get("keys", [])}


def rewrite_entry(client: hvac.Client, address: str, entry, path: str = "managed-objects",
                  mount: str = "vaultform") -> None:
    """Change one object's entry by hand (None removes it), as an old
    vaultform or an operator might have left it."""
    import hashlib
    shard = hashlib.sha256(address.encode("utf-8")).hexdigest()[:2]
    body = client.read(f"{mount}/data/{path}/{shard}")
    data = body["data"]["data"]
    objects = json.loads(data["objects"])
    if entry is None:
        objects.pop(address, None)
    else:
        objects[address] = entry
    client.write_data(f"{mount}/data/{path}/{shard}", data={"data": {**data, "objects": json.dumps(objects)}})
