"""Every typed auth method, applied by vaultform and then used for real.

Each test applies a spec with the CLI against a real OpenBao, then logs in
the way a client would (hvac, or plain HTTPS with a client certificate) and
checks what the token it gets can do: read where its policy allows, refused
elsewhere, with the TTLs and bindings the spec set. A negative login (a
wrong password, a claim the role does not allow, a certificate with another
name) shows the binding is enforced, not just stored.

JWTs are signed by the test (RS256, tests/support/kube.py's signer); OIDC
discovery and the JWKS come from a loopback HTTPS provider the test starts
(tests/support/oidc.py). Certificate login needs a TLS listener, so that
test starts its own OpenBao with TLS.
"""

from __future__ import annotations

import datetime
import time
import urllib.parse
from pathlib import Path
from typing import List

import hvac
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.bao import BaoDevServer
from tests.support.kube import sign_rs256
from tests.support.oidc import OidcProvider
from tests.test_kinds_contract import Workspace, rand


@pytest.fixture
def ws(run_cli, tmp_path, vault_env, unique, root):
    workspace = Workspace(run_cli, tmp_path, vault_env, record=f"logins/{unique('rec')}")
    yield workspace
    workspace.assert_no_secret_in_output([root.token])


@pytest.fixture
def provider():
    with OidcProvider() as running:
        yield running


def reader_policy(name: str, prefix: str) -> dict:
    """A policy that may read secret/<prefix>/* (dev mode's KV v2 at secret/) and nothing else."""
    return {name: f'path "secret/data/{prefix}/*" {{\n  capabilities = ["read"]\n}}\n'}


def seed_secrets(root, prefix: str) -> None:
    root.secrets.kv.v2.create_or_update_secret(path=f"{prefix}/app", secret={"k": "allowed"}, mount_point="secret")
    root.secrets.kv.v2.create_or_update_secret(path=f"other-{prefix}/app", secret={"k": "denied"},
                                               mount_point="secret")


def assert_token_can_only_read_its_prefix(client: hvac.Client, prefix: str, policy: str) -> dict:
    """The token holds exactly default + the policy, reads under its prefix, and is refused elsewhere."""
    me = client.auth.token.lookup_self()["data"]
    assert sorted(me["policies"]) == sorted(["default", policy]), me["policies"]
    got = client.secrets.kv.v2.read_secret_version(path=f"{prefix}/app", mount_point="secret",
                                                   raise_on_deleted_version=True)
    assert got["data"]["data"] == {"k": "allowed"}
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.read_secret_version(path=f"other-{prefix}/app", mount_point="secret",
                                                 raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.sys.list_auth_methods()
    return me


def client_for(bao, token: str = None) -> hvac.Client:
    return hvac.Client(url=bao.address, token=token, verify=bao.ca_cert or True)


# -- approle -------------------------------------------------------------------------


def test_approle_login_with_a_fixed_role_id_and_a_requested_secret_id(ws, unique, bao, root):
    mount, policy, prefix = unique("ar"), unique("ar-pol"), unique("ar-data")
    role_id, role_id_var = f"role-{rand()}", f"VF_ROLE_ID_{rand().upper()}"
    seed_secrets(root, prefix)
    spec = {"policies": reader_policy(policy, prefix),
            "auth": {mount: {"type": "approle", "roles": {
                "ci": {"role_id": {"env": role_id_var}, "token_policies": [policy], "token_ttl": "20m",
                       "token_max_ttl": "1h", "secret_id_ttl": "1h", "secret_id_num_uses": 2,
                       "bind_secret_id": True, "secret_id_bound_cidrs": ["127.0.0.1/32"],
                       "token_bound_cidrs": ["127.0.0.0/8"]},
                # Bound to a network the test is not in: its login must be refused.
                "fenced": {"token_policies": [policy], "secret_id_bound_cidrs": ["10.0.0.0/8"]}}}}}
    env = {role_id_var: role_id}
    ws.apply(spec, env)
    ws.assert_converged(spec, env)

    # The role_id is the one the spec fixed; the secret ID is requested the way a deployer would.
    assert root.read(f"auth/{mount}/role/ci/role-id")["data"]["role_id"] == role_id
    secret_id = root.write_data(f"auth/{mount}/role/ci/secret-id")["data"]["secret_id"]
    looked_up = root.write_data(f"auth/{mount}/role/ci/secret-id/lookup", data={"secret_id": secret_id})["data"]
    assert (looked_up["secret_id_ttl"], looked_up["secret_id_num_uses"]) == (3600, 2)

    login = client_for(bao)
    auth = login.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=mount)["auth"]
    assert auth["lease_duration"] == 1200
    me = assert_token_can_only_read_its_prefix(login, prefix, policy)
    assert me["bound_cidrs"] == ["127.0.0.0/8"]

    with pytest.raises(hvac.exceptions.InvalidRequest):  # a wrong secret ID
        client_for(bao).auth.approle.login(role_id=role_id, secret_id=f"wrong-{rand()}", mount_point=mount)
    fenced_id = root.read(f"auth/{mount}/role/fenced/role-id")["data"]["role_id"]
    fenced_secret = root.write_data(f"auth/{mount}/role/fenced/secret-id")["data"]["secret_id"]
    with pytest.raises(hvac.exceptions.InvalidRequest):  # source address outside secret_id_bound_cidrs
        client_for(bao).auth.approle.login(role_id=fenced_id, secret_id=fenced_secret, mount_point=mount)

    # A new fixed role_id in the spec: the plan names the field, never the value, and the old one stops working.
    new_role_id = f"role-{rand()}"
    result, blocks = ws.plan(spec, {role_id_var: new_role_id})
    assert blocks[f"approle_role.{mount}/ci"].fields == {"role_id": "(sensitive value changed)"}, str(result)
    ws.apply(spec, {role_id_var: new_role_id})
    assert root.read(f"auth/{mount}/role/ci/role-id")["data"]["role_id"] == new_role_id
    ws.assert_converged(spec, {role_id_var: new_role_id})

    # Dropped from the spec, the role_id stays as it is (Vault has no unset):
    # nothing is planned for the role, and its clients keep working.
    del spec["auth"][mount]["roles"]["ci"]["role_id"]
    result, blocks = ws.plan(spec)
    assert f"approle_role.{mount}/ci" not in blocks, str(result)
    ws.apply(spec)
    assert root.read(f"auth/{mount}/role/ci/role-id")["data"]["role_id"] == new_role_id
    ws.assert_converged(spec)
    ws.assert_no_secret_in_output([role_id, new_role_id, secret_id, fenced_secret])


def test_approle_local_secret_ids_can_only_change_by_making_the_role_again(ws, unique, bao, root):
    """OpenBao takes local_secret_ids only when a role is made (any later write
    carrying it is refused): a change re-creates the role, and the plan says
    that its secret IDs stop working."""
    mount = unique("arlocal")
    spec = {"auth": {mount: {"type": "approle", "roles": {"ci": {"token_ttl": "5m"}}}}}
    ws.apply(spec)
    role_id = root.read(f"auth/{mount}/role/ci/role-id")["data"]["role_id"]
    secret_id = root.write_data(f"auth/{mount}/role/ci/secret-id")["data"]["secret_id"]
    client_for(bao).auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=mount)

    spec["auth"][mount]["roles"]["ci"]["local_secret_ids"] = True
    result, blocks = ws.plan(spec)
    block = blocks[f"approle_role.{mount}/ci"]
    assert block.symbol == "-/+" and block.fields == {"local_secret_ids": "false -> true  # forces replacement"}, \
        str(result)
    assert block.notes == [f"every secret ID of {mount}/ci stops working; clients need new ones, and a new role_id"]
    ws.apply(spec)
    assert root.read(f"auth/{mount}/role/ci")["data"]["local_secret_ids"] is True
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client_for(bao).auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=mount)
    ws.assert_converged(spec)
    ws.assert_no_secret_in_output([role_id, secret_id])


def test_disabling_a_userpass_method_counts_its_users(ws, unique, root):
    mount = unique("upcount")
    spec = {"auth": {mount: {"type": "userpass", "users": {"a": {"password": {"env": "VF_PW_A"}}}}}}
    ws.apply(spec, {"VF_PW_A": f"pw-{rand()}"})
    root.write_data(f"auth/{mount}/users/by-hand", data={"password": f"pw-{rand()}"})
    result, blocks = ws.plan({}, None, "--allow-destroy")
    assert blocks[f"auth_method.{mount}"].notes == [
        f"disabling auth/{mount}/ destroys its config, 2 user(s) and every token it issued"], str(result)


# -- userpass ------------------------------------------------------------------------


def test_userpass_login_and_a_password_rotated_from_its_value_source(ws, unique, bao, root):
    mount, policy, prefix = unique("up"), unique("up-pol"), unique("up-data")
    var = f"VF_BG_PW_{rand().upper()}"
    first, second = f"pw-{rand()}", f"pw-rotated-{rand()}"
    seed_secrets(root, prefix)
    spec = {"policies": reader_policy(policy, prefix),
            "auth": {mount: {"type": "userpass", "users": {
                "breakglass": {"password": {"env": var}, "token_policies": [policy], "token_ttl": "15m"}}}}}
    ws.apply(spec, {var: first})
    ws.assert_converged(spec, {var: first})

    login = client_for(bao)
    auth = login.auth.userpass.login(username="breakglass", password=first, mount_point=mount)["auth"]
    assert auth["lease_duration"] == 900
    assert_token_can_only_read_its_prefix(login, prefix, policy)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client_for(bao).auth.userpass.login(username="breakglass", password=f"wrong-{rand()}", mount_point=mount)

    # Vault never returns the password: the change is seen by fingerprint, shown without a value.
    result, blocks = ws.plan(spec, {var: second})
    assert result.exit_code == 2, str(result)
    assert blocks[f"userpass_user.{mount}/breakglass"].fields == {"password": "(sensitive value changed)"}
    ws.apply(spec, {var: second})
    ws.assert_converged(spec, {var: second})
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client_for(bao).auth.userpass.login(username="breakglass", password=first, mount_point=mount)
    client_for(bao).auth.userpass.login(username="breakglass", password=second, mount_point=mount)
    ws.assert_no_secret_in_output([first, second, auth["client_token"]])


# -- jwt (the GitHub Actions pattern) ------------------------------------------------


def jwt_login(bao, mount: str, role: str, token: str) -> hvac.Client:
    client = client_for(bao)
    response = client.write_data(f"auth/{mount}/login", data={"role": role, "jwt": token})
    client.token = response["auth"]["client_token"]
    return client


def github_claims(repository: str, ref: str = "refs/heads/main", aud: str = "https://github.com/org") -> dict:
    return {"sub": f"repo:{repository}:ref:{ref}", "aud": aud, "repository": repository, "ref": ref,
            "repository_owner": repository.split("/")[0], "workflow": "deploy"}


@pytest.mark.parametrize("keys", ["jwks_url", "jwt_validation_pubkeys"])
def test_jwt_login_with_a_token_the_test_signs(keys, ws, unique, bao, root, provider, tmp_path):
    mount, policy, prefix = unique("gha"), unique("gha-pol"), unique("gha-data")
    seed_secrets(root, prefix)
    if keys == "jwks_url":
        (tmp_path / "issuer-ca.pem").write_text(provider.ca_pem, encoding="utf-8")
        config = {"jwks_url": f"{provider.issuer}/jwks", "jwks_ca_pem": {"file": "issuer-ca.pem"}}
    else:
        (tmp_path / "issuer.pub").write_text(provider.public_key_pem, encoding="utf-8")
        config = {"jwt_validation_pubkeys": [{"file": "issuer.pub"}], "jwt_supported_algs": ["RS256"]}
    config.update(bound_issuer=provider.issuer, default_role="deploy")
    spec = {"policies": reader_policy(policy, prefix),
            "auth": {mount: {"type": "jwt", "config": config, "roles": {
                "deploy": {"role_type": "jwt", "user_claim": "repository",
                           "bound_audiences": ["https://github.com/org"],
                           "bound_claims": {"repository": "org/repo", "ref": ["refs/heads/main", "refs/tags/v*"]},
                           "bound_claims_type": "glob", "claim_mappings": {"workflow": "workflow_name"},
                           "token_policies": [policy], "token_ttl": "10m"}}}}}
    ws.apply(spec)
    ws.assert_converged(spec)

    client = jwt_login(bao, mount, "deploy", provider.sign(github_claims("org/repo")))
    me = assert_token_can_only_read_its_prefix(client, prefix, policy)
    assert me["meta"] == {"role": "deploy", "workflow_name": "deploy"} and me["ttl"] <= 600
    jwt_login(bao, mount, "deploy", provider.sign(github_claims("org/repo", ref="refs/tags/v1.2")))  # the glob

    refused = [github_claims("org/other"), github_claims("org/repo", ref="refs/heads/feature"),
               github_claims("org/repo", aud="https://github.com/someone-else")]
    for claims in refused:
        with pytest.raises(hvac.exceptions.InvalidRequest):
            jwt_login(bao, mount, "deploy", provider.sign(claims))
    with pytest.raises(hvac.exceptions.InvalidRequest):  # signed by another key
        jwt_login(bao, mount, "deploy", _foreign_token(provider))


def _foreign_token(provider: OidcProvider) -> str:
    """Claims the role allows, the provider's key id, another key's signature."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    return sign_rs256({"iss": provider.issuer, "iat": now, "exp": now + 300, **github_claims("org/repo")},
                      other, kid=provider.kid)


# -- oidc ------------------------------------------------------------------------------


def test_oidc_login_through_discovery_with_the_write_only_client_secret(ws, unique, bao, root, provider, tmp_path):
    mount, policy, prefix = unique("oidc"), unique("oidc-pol"), unique("oidc-data")
    var = f"VF_OIDC_SECRET_{rand().upper()}"
    seed_secrets(root, prefix)
    (tmp_path / "issuer-ca.pem").write_text(provider.ca_pem, encoding="utf-8")
    redirect = "http://localhost:8250/oidc/callback"
    spec = {"policies": reader_policy(policy, prefix),
            "auth": {mount: {"type": "oidc", "config": {
                "oidc_discovery_url": provider.issuer, "oidc_discovery_ca_pem": {"file": "issuer-ca.pem"},
                "oidc_client_id": provider.client_id, "oidc_client_secret": {"env": var}, "default_role": "web",
                "bound_issuer": provider.issuer},
                "roles": {"web": {"role_type": "oidc", "user_claim": "email", "allowed_redirect_uris": [redirect],
                                  "bound_audiences": [provider.client_id], "oidc_scopes": ["email"],
                                  "bound_claims": {"groups": ["ops"]}, "token_policies": [policy]}}}}}
    ws.apply(spec, {var: provider.client_secret})
    ws.assert_converged(spec, {var: provider.client_secret})
    assert "oidc_client_secret" not in root.read(f"auth/{mount}/config")["data"]

    def login(email: str, groups: List[str]) -> requests.Response:
        started = root.write_data(f"auth/{mount}/oidc/auth_url", data={"role": "web", "redirect_uri": redirect})
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(started["data"]["auth_url"]).query))
        assert query["client_id"] == provider.client_id and query["redirect_uri"] == redirect
        code = f"code-{rand()}"
        provider.codes[code] = provider.sign({"sub": email, "email": email, "groups": groups,
                                              "aud": provider.client_id, "nonce": query["nonce"]})
        return requests.get(f"{bao.address}/v1/auth/{mount}/oidc/callback",
                            params={"state": query["state"], "code": code}, timeout=10)

    answer = login("alice@example.com", ["ops", "dev"])
    assert answer.status_code == 200, answer.text
    assert provider.token_requests[-1] == {"client_id": provider.client_id, "secret_matched": True}
    client = client_for(bao, answer.json()["auth"]["client_token"])
    assert_token_can_only_read_its_prefix(client, prefix, policy)
    assert login("mallory@example.com", ["dev"]).status_code == 400  # not in the bound group

    # A rotated client secret: the plan says so without the value, and Vault sends the new one.
    old_secret = provider.client_secret
    provider.client_secret = f"rotated-{rand()}"
    result, blocks = ws.plan(spec, {var: provider.client_secret})
    assert blocks[f"oidc_config.{mount}"].fields == {"oidc_client_secret": "(sensitive value changed)"}, str(result)
    ws.apply(spec, {var: provider.client_secret})
    assert login("alice@example.com", ["ops"]).status_code == 200
    ws.assert_converged(spec, {var: provider.client_secret})
    ws.assert_no_secret_in_output([old_secret, provider.client_secret])


# -- token roles -------------------------------------------------------------------------


def test_token_role_limits_the_tokens_made_from_it(ws, unique, bao, root):
    name, policy, other, prefix = unique("nomad"), unique("tr-pol"), unique("tr-other"), unique("tr-data")
    seed_secrets(root, prefix)
    spec = {"policies": {**reader_policy(policy, prefix), **reader_policy(other, f"other-{prefix}")},
            "token_roles": {name: {"allowed_policies": [policy], "orphan": True, "token_period": "1h",
                                   "token_explicit_max_ttl": "2h", "renewable": True}}}
    ws.apply(spec)
    ws.assert_converged(spec)

    made = root.auth.token.create(role_name=name, policies=[policy])["auth"]
    client = client_for(bao, made["client_token"])
    me = assert_token_can_only_read_its_prefix(client, prefix, policy)
    # OpenBao 2.7.2's token lookup shows no `period`; the role's token_period
    # shows as the token's TTL (without it: the 768h system default).
    assert me["orphan"] is True and me["creation_ttl"] == 3600 and me["role"] == name
    with pytest.raises(hvac.exceptions.InvalidRequest):  # a policy the role does not allow
        root.auth.token.create(role_name=name, policies=[other])


# -- cert ----------------------------------------------------------------------------------


def _ca():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vaultform-test-client-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _client_cert(ca_key, ca_cert, common_name: str, where: Path):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_file, key_file = where / f"{common_name}.crt", where / f"{common_name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@pytest.fixture(scope="module")
def tls_bao():
    """An OpenBao with a TLS listener: certificate login needs the client's certificate from the handshake."""
    with BaoDevServer(tls=True) as server:
        yield server


def test_cert_login_over_tls_with_a_client_certificate(run_cli, tmp_path, tls_bao, unique):
    root = tls_bao.client()
    env = {"VAULT_ADDR": tls_bao.address, "VAULT_TOKEN": tls_bao.root_token, "VAULT_CACERT": tls_bao.ca_cert,
           "HOME": str(tmp_path)}
    ws = Workspace(run_cli, tmp_path, env, record="logins/cert")
    mount, policy, prefix = unique("cert"), unique("cert-pol"), unique("cert-data")
    seed_secrets(root, prefix)
    ca_key, ca_cert = _ca()
    (tmp_path / "web-ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    spec = {"policies": reader_policy(policy, prefix),
            "auth": {mount: {"type": "cert", "config": {"enable_identity_alias_metadata": True},
                             "certs": {"web": {"certificate": {"file": "web-ca.pem"},
                                               "allowed_common_names": ["web", "web-*"],
                                               "token_policies": [policy], "token_ttl": "5m"}}}}}
    ws.apply(spec)
    ws.assert_converged(spec)
    assert root.read(f"auth/{mount}/certs/web")["data"]["display_name"] == "web"

    def login(common_name: str) -> requests.Response:
        return requests.post(f"{tls_bao.address}/v1/auth/{mount}/login", json={"name": "web"}, timeout=10,
                             cert=_client_cert(ca_key, ca_cert, common_name, tmp_path), verify=tls_bao.ca_cert)

    answer = login("web-1")
    assert answer.status_code == 200, answer.text
    assert answer.json()["auth"]["lease_duration"] == 300
    client = client_for(tls_bao, answer.json()["auth"]["client_token"])
    assert_token_can_only_read_its_prefix(client, prefix, policy)
    assert login("database").status_code in (400, 403)  # a name the certificate entry does not allow

    # Another CA's certificate with an allowed name is refused too.
    other_key, other_ca = _ca()
    (tmp_path / "other").mkdir()
    refused = requests.post(f"{tls_bao.address}/v1/auth/{mount}/login", json={"name": "web"}, timeout=10,
                            cert=_client_cert(other_key, other_ca, "web", tmp_path / "other"), verify=tls_bao.ca_cert)
    assert refused.status_code in (400, 403)
    ws.assert_no_secret_in_output([tls_bao.root_token])
