"""userpass_user.<mount>/<name>: userpass users (auth/<mount>/users/<name>).

`password` (or `password_hash`) is write-only (write_only.py): Vault keeps
only a hash and never returns either, so it is compared by fingerprint and
never printed. Vault lower-cases user names, so the schema takes lower-case
names only. Token-field defaults were read back from OpenBao 2.7.2 for a user
written with only a password.
"""

from __future__ import annotations

from vaultform.kinds.base import KindDoc
from vaultform.kinds.auth_objects import TOKEN_ALIASES, TOKEN_DEFAULTS, TOKEN_DURATIONS, AuthRole


class UserpassUser(AuthRole):
    name = "userpass_user"
    auth_type = "userpass"
    suffix = "_user"
    spec_key = "users"
    role_dir = "users"
    segment = "users"
    spec_key_schema = {"additionalProperties": {"$ref": "userpass-auth.schema.json#/$defs/user"}}
    doc = KindDoc("auth.<path>.users.<name> (type userpass)", "auth/<path>/users/<name>",
                  "a userpass user: password from a value source (write-only) and token fields",
                  address="userpass_user.<path>/<name>")
    defaults = dict(TOKEN_DEFAULTS)
    durations = TOKEN_DURATIONS
    lists = frozenset({"token_bound_cidrs"})
    # Compared as a set (auth_objects.unordered): measured, the legacy
    # `policies` "B,a" reads back ["a", "b"].
    policy_lists = frozenset({"token_policies"})
    unordered = frozenset({"token_policies"})
    aliases = {k: v for k, v in TOKEN_ALIASES.items() if k != "num_uses" and k != "period"}


KINDS = [UserpassUser()]
