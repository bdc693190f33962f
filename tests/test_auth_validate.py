"""Offline checks of the typed auth methods: what `vaultform validate` says
about keys a type has no endpoint for, names Vault would lower-case, literal
write-only values and auth types whose fields nobody checks."""

from __future__ import annotations

import re

import pytest
import yaml


@pytest.fixture
def validate(run_cli, tmp_path):
    def run(sections: dict, env: dict = None):
        spec = tmp_path / "vaultform.yaml"
        spec.write_text(yaml.safe_dump({"version": 1, **sections}, sort_keys=False), encoding="utf-8")
        result = run_cli(["validate", str(spec)], env={"VAULT_ADDR": None, "VAULT_TOKEN": None, **(env or {})})
        assert result.exception is None and "Traceback" not in result.output, str(result)
        return result
    return run


def test_the_issue_s_shapes_validate(validate, tmp_path):
    (tmp_path / "web-ca.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    result = validate({
        "policies": {n: 'path "x/*" { capabilities = ["read"] }\n' for n in ("ci", "admin", "deploy", "nomad")},
        "auth": {
            "approle": {"type": "approle", "roles": {"ci": {"token_policies": ["ci"], "secret_id_ttl": "1h"}}},
            "userpass": {"type": "userpass", "users": {"breakglass": {"password": {"env": "BG_PW"},
                                                                      "token_policies": ["admin"]}}},
            "github-actions": {"type": "jwt",
                               "config": {"bound_issuer": "https://token.actions.githubusercontent.com",
                                          "jwks_url": "https://token.actions.githubusercontent.com/.well-known/jwks"},
                               "roles": {"deploy": {"role_type": "jwt", "user_claim": "repository",
                                                    "bound_claims": {"repository": "org/repo"},
                                                    "token_policies": ["deploy"]}}},
            "cert": {"type": "cert", "certs": {"web": {"certificate": {"file": "web-ca.pem"},
                                                       "allowed_common_names": ["web"]}}}},
        "token_roles": {"nomad": {"allowed_policies": ["nomad"], "orphan": True}}}, env={"BG_PW": "x"})
    assert result.exit_code == 0 and "Warning" not in result.output, str(result)


@pytest.mark.parametrize("auth_type, key, message", [
    ("userpass", "roles", "userpass keeps users, not roles: put them under `users:`"),
    ("cert", "roles", "cert keeps trusted certificates, not roles: put them under `certs:`"),
    ("approle", "config", "approle has no config endpoint"),
    ("kubernetes", "users", "only a userpass auth method has `users:`"),
    ("jwt", "certs", "only a cert auth method has `certs:`"),
])
def test_a_key_the_type_has_no_endpoint_for_is_a_located_error(validate, auth_type, key, message):
    result = validate({"auth": {"m": {"type": auth_type, key: {"x": {}}}}})
    assert result.exit_code == 1, str(result)
    assert re.search(rf"vaultform\.yaml:\d+:\d+: auth\.m\.{key}: {re.escape(message)}", result.stderr), str(result)


@pytest.mark.parametrize("auth_type, key, body", [
    ("userpass", "users", {"password": {"env": "PW"}}),
    ("cert", "certs", {"certificate": "-----BEGIN CERTIFICATE-----"}),
])
def test_names_vault_lower_cases_must_be_lower_case(validate, auth_type, key, body):
    result = validate({"auth": {"m": {"type": auth_type, key: {"Bob": body}}}}, env={"PW": "x"})
    assert result.exit_code == 1, str(result)
    assert f"auth.m.{key}.Bob: the name must be lower case (Vault lower-cases it)" in result.stderr, str(result)


def test_unknown_fields_of_typed_methods_are_errors_not_silently_ignored(validate):
    result = validate({"auth": {"gh": {"type": "jwt", "config": {"jwks_url": "https://x", "bound_issuers": "x"},
                                       "roles": {"r": {"role_type": "jwt", "user_claim": "sub", "bound_claim": {}}}}},
                       "token_roles": {"t": {"allowed_policy": ["a"]}}})
    assert result.exit_code == 1, str(result)
    for field, hint in (("auth.gh.config.bound_issuers", "bound_issuer"), ("auth.gh.roles.r.bound_claim", "bound_claims"),
                        ("token_roles.t.allowed_policy", "allowed_policies")):
        assert f"{field}: unknown field" in result.stderr and f"did you mean {hint!r}" in result.stderr, str(result)


def test_an_oidc_role_needs_redirect_uris_and_a_client_id_needs_discovery(validate):
    result = validate({"auth": {"sso": {"type": "oidc", "config": {"jwks_url": "https://x", "oidc_client_id": "v"},
                                        "roles": {"web": {"user_claim": "email"}}}}})
    assert result.exit_code == 1, str(result)
    assert "auth.sso.config: missing required field 'oidc_discovery_url'" in result.stderr, str(result)
    assert "auth.sso.roles.web: missing required field 'allowed_redirect_uris'" in result.stderr, str(result)


def test_a_literal_write_only_value_is_warned_about_never_quoted(validate):
    password, secret = "literal-password-3f9a", "literal-client-secret-77c1"
    result = validate({"auth": {
        "up": {"type": "userpass", "users": {"bob": {"password": password}}},
        "sso": {"type": "oidc", "config": {"oidc_discovery_url": "https://idp.example", "oidc_client_id": "vault",
                                           "oidc_client_secret": secret}}}})
    assert result.exit_code == 0, str(result)
    assert "auth.up.users.bob.password: is a literal value in the spec" in result.output, str(result)
    assert "auth.sso.config.oidc_client_secret: is a literal value in the spec" in result.output, str(result)
    assert password not in result.output and secret not in result.output


def test_an_auth_type_nobody_describes_is_passed_through_with_a_warning(validate):
    result = validate({"auth": {"corp": {"type": "ldap", "config": {"url": "ldaps://ldap.example"},
                                         "roles": {"x": {"anything": 1}}},
                                "bare": {"type": "radius"}}})
    assert result.exit_code == 0, str(result)
    assert re.search(r"Warning: .*vaultform\.yaml:\d+:\d+: auth\.corp\.type: vaultform does not know the fields of "
                     r"auth type 'ldap': its config and roles are passed to Vault unchecked", result.output), str(result)
    assert "auth.bare" not in result.output  # nothing passed through, nothing to warn about
