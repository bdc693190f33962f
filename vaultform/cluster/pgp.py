"""Custodians' PGP public keys for `operator init` (Vault's pgp_keys).

Vault wants each key as base64 of the binary (not ASCII-armoured) key. Files
may hold either form; a private key or something that is not an OpenPGP
public key is refused here, before anything reaches Vault.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Optional

from vaultform.errors import Location, SpecError

_PUBLIC_KEY_TAG = 6
_SECRET_KEY_TAGS = {5, 7}


def _dearmor(text: str) -> Optional[bytes]:
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines or not lines[0].startswith("-----BEGIN PGP"):
        return None
    body, in_headers = [], True
    for line in lines[1:]:
        if line.startswith("-----END PGP"):
            break
        if in_headers:
            if not line:
                in_headers = False
            elif ":" not in line:  # no header block at all
                in_headers = False
                body.append(line)
            continue
        if line.startswith("="):  # the CRC-24 checksum line
            continue
        body.append(line)
    try:
        return base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        return None


def _first_packet_tag(data: bytes) -> Optional[int]:
    if not data or not data[0] & 0x80:
        return None
    if data[0] & 0x40:               # new packet format
        return data[0] & 0x3F
    return (data[0] >> 2) & 0x0F     # old packet format


def load_public_key(path: Path, location: Optional[Location], field: str) -> str:
    """base64 of the binary public key in `path`, as Vault's pgp_keys wants."""
    try:
        raw = path.read_bytes()
    except OSError:
        raise SpecError(f"PGP key file {path} does not exist or cannot be read", location=location,
                        field=field) from None
    data = raw
    if raw.lstrip().startswith(b"-----BEGIN"):
        text = raw.decode("ascii", errors="replace")
        if "PRIVATE KEY" in text.split("\n", 1)[0]:
            raise SpecError(f"{path} is a PGP private key; give the custodian's public key "
                            "(gpg --export --armor NAME)", location=location, field=field)
        data = _dearmor(text)
        if data is None:
            raise SpecError(f"{path} is not a readable ASCII-armoured PGP public key", location=location, field=field)
    tag = _first_packet_tag(data)
    if tag in _SECRET_KEY_TAGS:
        raise SpecError(f"{path} is a PGP private key; give the custodian's public key "
                        "(gpg --export --armor NAME)", location=location, field=field)
    if tag != _PUBLIC_KEY_TAG:
        raise SpecError(f"{path} is not a PGP public key", location=location, field=field)
    return base64.b64encode(data).decode("ascii")
