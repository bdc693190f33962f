"""cert_config.<mount> and cert_certificate.<mount>/<name>: TLS certificate
auth (auth/<mount>/config, auth/<mount>/certs/<name>).

A trusted certificate's `certificate` is returned as stored and is public (a
CA certificate), so it is compared directly and shown in plans. Vault
lower-cases certificate names, so the schema takes lower-case names only.
Defaults were read back from OpenBao 2.7.2 for a certificate written with
only `certificate`; its display_name defaults to its own name.
"""

from __future__ import annotations

from vaultform.kinds.base import KindDoc
from vaultform.kinds.auth_objects import TOKEN_ALIASES, TOKEN_DEFAULTS, TOKEN_DURATIONS, AuthConfig, AuthRole


class CertConfig(AuthConfig):
    name = "cert_config"
    auth_type = "cert"
    spec_key_schema = {"$ref": "cert-auth.schema.json#/$defs/config"}
    doc = KindDoc("auth.<path>.config (type cert)", "auth/<path>/config",
                  "TLS certificate auth config (OCSP and revocation behaviour)", address="cert_config.<path>")
    # ocsp_cache_size reads back 0 when never set but Vault refuses a write
    # of anything below 2, so it has no default to return to: compared only
    # while the spec sets it. The config write merges (GetOk per field).
    defaults = {"disable_binding": False, "enable_identity_alias_metadata": False}


class CertCertificate(AuthRole):
    name = "cert_certificate"
    auth_type = "cert"
    suffix = "_certificate"
    spec_key = "certs"
    role_dir = "certs"
    segment = "certs"
    spec_key_schema = {"additionalProperties": {"$ref": "cert-auth.schema.json#/$defs/certificate"}}
    doc = KindDoc("auth.<path>.certs.<name> (type cert)", "auth/<path>/certs/<name>",
                  "a trusted certificate (PEM from a file) with allowed names and token fields",
                  address="cert_certificate.<path>/<name>")
    defaults = {"allowed_common_names": [], "allowed_dns_sans": [], "allowed_email_sans": [],
                "allowed_metadata_extensions": [], "allowed_names": [], "allowed_organizational_units": [],
                "allowed_uri_sans": [], "ocsp_ca_certificates": "", "ocsp_enabled": False,
                "ocsp_fail_open": False, "ocsp_query_all_servers": False, "ocsp_servers_override": [],
                "required_extensions": [], **TOKEN_DEFAULTS}
    durations = TOKEN_DURATIONS
    lists = frozenset({"allowed_common_names", "allowed_dns_sans", "allowed_email_sans",
                       "allowed_metadata_extensions", "allowed_names", "allowed_organizational_units",
                       "allowed_uri_sans", "ocsp_servers_override", "required_extensions", "token_bound_cidrs"})
    policy_lists = frozenset({"token_policies"})
    unordered = frozenset({"token_policies"})
    aliases = {k: v for k, v in TOKEN_ALIASES.items() if k != "num_uses"}

    def named_defaults(self, name, desired, fields):
        # Measured: a certificate written without display_name reads back
        # with its own name there.
        return {"display_name": name, **desired}


KINDS = [CertConfig(), CertCertificate()]
