"""jwt_config / jwt_role and oidc_config / oidc_role: the JWT/OIDC auth
method, mounted as type `jwt` or `oidc` (one plugin, two names).

Config: auth/<mount>/config, replaced whole on every write (pathConfigWrite
builds a new config from the request), so every write sends every field,
the write-only oidc_client_secret included. Roles: auth/<mount>/role/<name>,
merged on write. Defaults below were read back from OpenBao 2.7.2: the config
written with jwt_validation_pubkeys only, a role with role_type and
user_claim only.
"""

from __future__ import annotations

from vaultform.kinds.base import KindDoc
from vaultform.kinds.auth_objects import TOKEN_ALIASES, TOKEN_DEFAULTS, TOKEN_DURATIONS, AuthConfig, AuthRole
from vaultform.normalize import string_list

CONFIG_DEFAULTS = {"bound_issuer": "", "default_role": "", "jwks_ca_pem": "", "jwks_url": "",
                   "jwt_supported_algs": [], "jwt_validation_pubkeys": [], "namespace_in_state": True,
                   "oidc_client_id": "", "oidc_discovery_ca_pem": "", "oidc_discovery_url": "",
                   "oidc_response_mode": "", "oidc_response_types": [], "override_allowed_server_names": [],
                   "provider_config": {}}

ROLE_DEFAULTS = {"allowed_redirect_uris": [], "bound_audiences": [], "bound_claims": {},
                 "bound_claims_type": "string", "bound_subject": "", "callback_mode": "client",
                 "claim_mappings": {}, "clock_skew_leeway": 0, "expiration_leeway": 0, "groups_claim": "",
                 "max_age": 0, "not_before_leeway": 0, "oauth2_metadata": [], "oidc_disable_confirmation": False,
                 "oidc_scopes": [], "poll_interval": 0,
                 # Unset, Vault makes a role an OIDC one (and then wants allowed_redirect_uris).
                 "role_type": "oidc",
                 "token_policies_template_claims": False, "user_claim_json_pointer": False,
                 "verbose_oidc_logging": False, **TOKEN_DEFAULTS}


class JwtConfig(AuthConfig):
    name = "jwt_config"
    auth_type = "jwt"
    spec_key_schema = {"$ref": "jwt-auth.schema.json#/$defs/config"}
    doc = KindDoc("auth.<path>.config (type jwt)", "auth/<path>/config",
                  "JWT auth config: keys (pubkeys, JWKS URL or OIDC discovery), bound issuer, default role",
                  address="jwt_config.<path>")
    defaults = CONFIG_DEFAULTS
    lists = frozenset({"jwt_supported_algs", "jwt_validation_pubkeys", "oidc_response_types",
                       "override_allowed_server_names"})
    maps = frozenset({"provider_config"})
    # Only steers the write (do not fetch the JWKS now); never stored.
    write_time = frozenset({"skip_jwks_validation"})

    def normalise_field(self, name, value):
        # Vault trims the whitespace around each key (a PEM file's final
        # newline included) and returns them so.
        if name == "jwt_validation_pubkeys":
            return [key.strip() for key in string_list(value)]
        return super().normalise_field(name, value)


class JwtRole(AuthRole):
    name = "jwt_role"
    auth_type = "jwt"
    spec_key_schema = {"additionalProperties": {"$ref": "jwt-auth.schema.json#/$defs/role"}}
    doc = KindDoc("auth.<path>.roles.<name> (type jwt)", "auth/<path>/role/<name>",
                  "a JWT role: audiences, user claim, bound claims (the GitHub Actions pattern), token fields",
                  address="jwt_role.<path>/<name>")
    defaults = ROLE_DEFAULTS
    durations = TOKEN_DURATIONS | {"clock_skew_leeway", "expiration_leeway", "not_before_leeway", "max_age"}
    lists = frozenset({"allowed_redirect_uris", "bound_audiences", "oidc_scopes", "oauth2_metadata",
                       "token_bound_cidrs"})
    maps = frozenset({"bound_claims", "claim_mappings"})
    policy_lists = frozenset({"token_policies"})
    unordered = frozenset({"token_policies"})
    aliases = TOKEN_ALIASES


class OidcConfig(JwtConfig):
    name = "oidc_config"
    auth_type = "oidc"
    doc = KindDoc("auth.<path>.config (type oidc)", "auth/<path>/config",
                  "OIDC auth config: discovery URL, client ID and (write-only) client secret, default role",
                  address="oidc_config.<path>")


class OidcRole(JwtRole):
    name = "oidc_role"
    auth_type = "oidc"
    doc = KindDoc("auth.<path>.roles.<name> (type oidc)", "auth/<path>/role/<name>",
                  "an OIDC role: redirect URIs, claims, token fields", address="oidc_role.<path>/<name>")


KINDS = [JwtConfig(), JwtRole(), OidcConfig(), OidcRole()]
