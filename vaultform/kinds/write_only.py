"""The write-only catalogue: fields Vault takes but never returns on read.

Such a field cannot be compared with what Vault holds, so vaultform keeps an
HMAC fingerprint of the value it applied in the ownership record and compares
the spec's value with that (auth_objects.py). Every write-only field is
sensitive, even written literally in the spec.

Keyed by (auth type or engine, the path segment of the object):
`("jwt", "config")` is auth/<mount>/config of a jwt mount. The value is the
field Vault returns instead to say whether one is set, or None when it says
nothing. Read from OpenBao's source (internal/builtin/credential/*/path_*.go,
sdk/helper/ldaputil/config.go; checked at commit df6ce2c, August 2026):

- kubernetes config: token_reviewer_jwt -> token_reviewer_jwt_set
- jwt/oidc config: oidc_client_secret (never in pathConfigRead's answer)
- approle role: role_id (only role/<name>/role-id returns it). secret_id is
  not a role field: secret IDs are made at role/<name>/secret-id, which
  vaultform does not manage.
- ldap config (and kerberos' config/ldap, same ldaputil code): bindpass,
  client_tls_key and client_tls_cert (PasswordlessMap leaves all three out)
- kerberos config: keytab
- radius config: secret
- userpass users/<name>: password, password_hash
- database secrets engine config/<name>: password, private_key (deleted
  from connection_details on read)

cert certs/<name> is *not* write-only: `certificate` is returned as stored,
so it is compared directly (and is public: a CA certificate).

The typed auth kinds (approle_auth.py, userpass_auth.py, jwt_auth.py,
kubernetes_auth.py) and the generic ones (auth_objects.py) read this
catalogue by (type, segment); the database entry is here so that a kind
added for it inherits it.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Optional

WRITE_ONLY: Dict[tuple, Dict[str, Optional[str]]] = {
    ("kubernetes", "config"): {"token_reviewer_jwt": "token_reviewer_jwt_set"},
    ("jwt", "config"): {"oidc_client_secret": None},
    ("oidc", "config"): {"oidc_client_secret": None},
    ("approle", "role"): {"role_id": None},
    ("ldap", "config"): {"bindpass": None, "client_tls_key": None, "client_tls_cert": None},
    ("kerberos", "config/ldap"): {"bindpass": None, "client_tls_key": None, "client_tls_cert": None},
    ("kerberos", "config"): {"keytab": None},
    ("radius", "config"): {"secret": None},
    ("userpass", "users"): {"password": None, "password_hash": None},
    ("database", "config"): {"password": None, "private_key": None},
}

# Fields that are public even when read from a file: certificates and public
# keys. A value source for them gives a plain value, shown in plans (a
# reviewer wants to see which CA changed). This is the only way a field
# opts out of being sensitive; nothing has to opt in.
PUBLIC_FROM_SOURCE: Dict[tuple, FrozenSet[str]] = {
    ("kubernetes", "config"): frozenset({"kubernetes_ca_cert", "pem_keys"}),
    ("jwt", "config"): frozenset({"oidc_discovery_ca_pem", "jwks_ca_pem", "jwt_validation_pubkeys"}),
    ("oidc", "config"): frozenset({"oidc_discovery_ca_pem", "jwks_ca_pem", "jwt_validation_pubkeys"}),
    ("ldap", "config"): frozenset({"certificate"}),
    ("cert", "certs"): frozenset({"certificate"}),
}


def write_only(kind_of: Optional[str], segment: str) -> Dict[str, Optional[str]]:
    return dict(WRITE_ONLY.get((kind_of or "", segment), {}))


def public_from_source(kind_of: Optional[str], segment: str) -> FrozenSet[str]:
    return PUBLIC_FROM_SOURCE.get((kind_of or "", segment), frozenset())
