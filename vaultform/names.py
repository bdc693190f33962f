"""Names are data, never URL syntax.

Every name and path from the spec (mount paths, secret paths, policy, role
and user names) ends up in a Vault URL. A name that is URL syntax would let
one object's address resolve to another's path: `kv/../sys/policies/acl/x`
once let a "secret" write a root-equivalent policy, `a?b` and `a#b` wrote
`a`, `a%2Fb` wrote `a/b`, and `x/./y` was created as `x/y`.

So there is one rule for a path segment, checked twice:
- by `validate` (checks.py), with the spec location, before anything runs;
- by `url_path`, the one place a Vault URL path is built (connection.py
  calls it for every request), which refuses a bad segment whatever its
  origin and percent-encodes every segment it lets through.
Role and user names additionally follow Vault's own rule for them.
"""

from __future__ import annotations

import re
from typing import Optional
from urllib.parse import quote

from vaultform.errors import VaultformError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URL_SYNTAX = set("?#%\\")
# Vault's framework.GenericNameRegex: what auth methods accept as a role
# name (kubernetes, jwt/oidc, userpass users, ...): word characters at both
# ends, and '-' or '.' inside. AppRole also allows '@' (GenericNameWithAtRegex).
ROLE_NAME = re.compile(r"^\w(?:[\w.-]*\w)?$")
ROLE_NAME_WITH_AT = re.compile(r"^\w(?:[\w.@-]*\w)?$")


class UnsafeName(VaultformError):
    """A name or path Vault would read as URL syntax, or would not accept."""


def segment_problem(segment: str) -> Optional[str]:
    """Why one path segment (between slashes) cannot be a name, or None."""
    if segment == "":
        return "has an empty part (// or a / at either end)"
    if segment in (".", ".."):
        return f"has a {segment!r} part, which a URL would resolve away"
    bad = sorted(set(segment) & _URL_SYNTAX)
    if bad:
        return f"contains {', '.join(repr(c) for c in bad)}, which is URL syntax, not part of a name"
    if _CONTROL.search(segment):
        return "contains a control character"
    if not segment.isprintable():
        # OpenBao answers 400 for a path holding one (measured on 2.7.2, a KV
        # write and an identity read: U+00A0, U+200B, U+2028, U+0085, U+FEFF,
        # U+3000, U+E000; 'ü', ' ' and an emoji pass: exactly isprintable()).
        return "contains a character that is not printable, which OpenBao refuses in a path"
    if segment != segment.strip():
        return "has a part that starts or ends with white space"
    return None


def path_problem(path: str) -> Optional[str]:
    """Why a slash-separated name (a mount, a secret path) cannot be one, or None."""
    if not isinstance(path, str):
        return "is not a string"
    for segment in path.split("/"):
        problem = segment_problem(segment)
        if problem:
            return problem
    return None


def name_problem(name: str) -> Optional[str]:
    """A name that is one segment (a policy name): no slash at all."""
    if isinstance(name, str) and "/" in name:
        return "contains '/'"
    return path_problem(name)


def role_name_problem(name: str, auth_type: str = "") -> Optional[str]:
    problem = name_problem(name)
    if problem:
        return problem
    rule = ROLE_NAME_WITH_AT if auth_type == "approle" else ROLE_NAME
    if not rule.match(name):
        allowed = "letters, digits, _ and (inside) - . @" if auth_type == "approle" else \
            "letters, digits, _ and (inside) - ."
        return f"is not a name Vault accepts for a role ({allowed})"
    return None


def url_path(path: str) -> str:
    """The URL path (after /v1/) for a Vault API path: every segment checked
    and percent-encoded. The only place a request path is made."""
    segments = path.strip("/").split("/") if path.endswith("/") else path.split("/")
    for segment in segments:
        problem = segment_problem(segment)
        if problem:
            raise UnsafeName(f"refusing the Vault path {_shown(path)}: it {problem}")
    encoded = "/".join(quote(segment, safe="") for segment in segments)
    return encoded + ("/" if path.endswith("/") else "")


def _shown(path: str) -> str:
    # One line, whatever the path holds.
    return repr(path) if not path.isprintable() else path
