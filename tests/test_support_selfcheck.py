"""Self-check of tests/support: a real bao dev server + the fake Kubernetes API.

Proves the fixtures are fit for vaultform's integration tests: OpenBao's
kubernetes auth method really talks TLS to the fake, and the fake's TokenReview
verdicts (and the tokens it mints) drive Vault's login decisions.
"""

import hashlib
import hmac
import json
import os
import time

import hvac
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.bao import BaoDevServer, wait_until
from tests.support.kube import (
    TOKENREVIEW_PATH,
    FakeKubernetesAPI,
    b64url_encode,
    decode_unverified,
    sign_rs256,
)

SECRET_PATH = "webapp/config"
POLICY = 'path "secret/data/webapp/config" { capabilities = ["read"] }'
ROLE = {
    "bound_service_account_names": ["vault"],
    "bound_service_account_namespaces": ["default"],
    "token_policies": ["webapp"],
    "token_ttl": "10m",
}


@pytest.fixture(scope="module")
def kube():
    with FakeKubernetesAPI() as api:
        yield api


@pytest.fixture(scope="module")
def bao():
    with BaoDevServer() as server:
        yield server


@pytest.fixture(scope="module")
def root(bao, kube):
    """Root client on a server configured like vaultform would configure it.

    Two kubernetes mounts: ``kubernetes`` trusts the TokenReview answer alone
    (no pem_keys), ``kubernetes-pem`` also checks signatures itself.
    """
    client = bao.client()
    client.sys.create_or_update_policy("webapp", POLICY)
    client.secrets.kv.v2.create_or_update_secret(
        SECRET_PATH, secret={"password": "s3cr3t"}, mount_point="secret"
    )
    config = {
        "kubernetes_host": kube.url,
        "kubernetes_ca_cert": kube.ca_pem,
        "issuer": kube.issuer,
        "disable_iss_validation": False,
    }
    for mount, extra in (("kubernetes", {}), ("kubernetes-pem", {"pem_keys": [kube.public_key_pem]})):
        client.sys.enable_auth_method("kubernetes", path=mount)
        client.write_data(f"auth/{mount}/config", data={**config, **extra})
        client.write_data(f"auth/{mount}/role/webapp", data=ROLE)
    client.write_data(
        "auth/kubernetes/role/webapp-aud", data={**ROLE, "audience": "vaultform"}
    )
    return client


def login(bao, jwt, role="webapp", mount="kubernetes") -> hvac.Client:
    client = bao.client(token="none")
    client.auth.kubernetes.login(role, jwt, mount_point=mount)
    return client


def assert_refused(bao, jwt, role="webapp", mount="kubernetes") -> str:
    # Vault answers a failed kubernetes login with 400 or 403; either way hvac
    # raises a VaultError (a connection error would not be one).
    with pytest.raises((hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest)) as info:
        login(bao, jwt, role=role, mount=mount)
    return str(info.value)


def reviews_of(kube, jwt):
    return [r for r in list(kube.requests) if r["spec"]["token"] == jwt]


# -- end to end through Vault ---------------------------------------------------


def test_bound_service_account_reads_secret_and_nothing_else(root, bao, kube):
    jwt = kube.issue_token("default", "vault")
    client = login(bao, jwt)

    secret = client.secrets.kv.v2.read_secret_version(
        SECRET_PATH, mount_point="secret", raise_on_deleted_version=True
    )
    assert secret["data"]["data"] == {"password": "s3cr3t"}
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.read_secret_version(
            "other/thing", mount_point="secret", raise_on_deleted_version=True
        )

    meta = client.auth.token.lookup_self()["data"]["meta"]
    assert meta["service_account_name"] == "vault"
    assert meta["service_account_namespace"] == "default"


def test_fake_received_the_tokenreview(root, bao, kube):
    jwt = kube.issue_token("default", "vault")
    login(bao, jwt)
    (review,) = reviews_of(kube, jwt)
    # OpenBao 2.7.2 omits apiVersion/kind in the body; with no role audience
    # it asks for the token's own aud claim.
    assert review["spec"]["audiences"] == [kube.issuer]


@pytest.mark.parametrize(
    "namespace,name", [("default", "someone-else"), ("kube-system", "vault")]
)
def test_unbound_service_account_is_refused(root, bao, kube, namespace, name):
    assert_refused(bao, kube.issue_token(namespace, name))


def test_revoked_token_is_refused(root, bao, kube):
    jwt = kube.issue_token("default", "vault")
    login(bao, jwt)  # valid before revocation
    kube.revoke(jwt)
    assert_refused(bao, jwt)
    assert len(reviews_of(kube, jwt)) == 2  # Vault asked again and was told no


def test_tampered_signature_is_refused_by_tokenreview(root, bao, kube):
    header, claims, sig = kube.issue_token("default", "vault").split(".")
    # Flip a middle character: the last one may only carry padding bits.
    i = len(sig) // 2
    bad = f"{header}.{claims}.{sig[:i]}{'A' if sig[i] != 'A' else 'B'}{sig[i + 1:]}"
    assert_refused(bao, bad)
    # Without pem_keys Vault cannot check signatures: the fake caught it.
    assert reviews_of(kube, bad)
    assert kube.review(bad)["authenticated"] is False


def test_hs256_token_is_refused(root, bao, kube):
    _, claims = decode_unverified(kube.issue_token("default", "vault"))
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = ".".join(
        b64url_encode(json.dumps(p).encode()) for p in (header, claims)
    )
    mac = hmac.new(b"guessable", signing_input.encode(), hashlib.sha256).digest()
    assert_refused(bao, f"{signing_input}.{b64url_encode(mac)}")


def test_expired_token_is_refused(root, bao, kube):
    assert_refused(bao, kube.issue_token("default", "vault", expires_in=-3600))


def test_foreign_issuer_is_refused_by_vault(root, bao, kube):
    jwt = kube.issue_token("default", "vault", issuer="https://evil.example")
    assert kube.review(jwt)["authenticated"]  # the fake does not check iss...
    assert_refused(bao, jwt)  # ...Vault's own issuer validation does


def test_role_audience_is_enforced(root, bao, kube):
    login(bao, kube.issue_token("default", "vault", audiences=["vaultform"]), role="webapp-aud")
    assert_refused(bao, kube.issue_token("default", "vault"), role="webapp-aud")


def test_pem_keys_mount_checks_signature_locally(root, bao, kube):
    login(bao, kube.issue_token("default", "vault"), mount="kubernetes-pem")

    # Same claims, signed by a key from "another cluster".
    _, claims = decode_unverified(kube.issue_token("default", "vault"))
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = sign_rs256(claims, other_key)
    assert_refused(bao, forged, mount="kubernetes-pem")
    assert not reviews_of(kube, forged)  # rejected before any TokenReview


# -- the fake on its own -----------------------------------------------------------


@pytest.fixture(scope="module")
def ca_file(kube, tmp_path_factory):
    return kube.write_ca(tmp_path_factory.mktemp("kube") / "ca.pem")


def post_review(kube, ca_file, spec):
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
    return requests.post(kube.url + TOKENREVIEW_PATH, json=body, verify=ca_file, timeout=5)


def test_fake_tokenreview_answers(kube, ca_file):
    jwt = kube.issue_token("ns1", "sa1", uid="uid-1", audiences=["a", "b"])
    resp = post_review(kube, ca_file, {"token": jwt, "audiences": ["b", "c"]})
    assert resp.status_code == 201
    status = resp.json()["status"]
    assert status["authenticated"] is True
    assert status["user"] == {
        "username": "system:serviceaccount:ns1:sa1",
        "uid": "uid-1",
        "groups": ["system:serviceaccounts", "system:serviceaccounts:ns1", "system:authenticated"],
    }
    assert status["audiences"] == ["b"]

    denied = post_review(kube, ca_file, {"token": jwt, "audiences": ["c"]}).json()["status"]
    assert denied["authenticated"] is False and denied["error"]
    garbage = post_review(kube, ca_file, {"token": "not.a.jwt"}).json()["status"]
    assert garbage["authenticated"] is False and garbage["error"]


def test_fake_accepts_legacy_claims(kube):
    now = int(time.time())
    jwt = kube.sign({
        "iss": "kubernetes/serviceaccount",
        "sub": "system:serviceaccount:ns2:sa2",
        "exp": now + 60,
        "kubernetes.io/serviceaccount/namespace": "ns2",
        "kubernetes.io/serviceaccount/service-account.name": "sa2",
        "kubernetes.io/serviceaccount/service-account.uid": "uid-2",
    })
    status = kube.review(jwt)
    assert status["authenticated"] is True
    assert status["user"]["username"] == "system:serviceaccount:ns2:sa2"
    assert status["user"]["uid"] == "uid-2"


def test_fake_other_paths_and_bad_bodies(kube, ca_file):
    resp = requests.get(kube.url + "/api/v1/namespaces", verify=ca_file, timeout=5)
    assert resp.status_code == 404
    assert resp.json()["kind"] == "Status" and resp.json()["code"] == 404
    resp = requests.post(kube.url + TOKENREVIEW_PATH, data=b"{", verify=ca_file, timeout=5)
    assert resp.status_code == 400 and resp.json()["reason"] == "BadRequest"


def test_fake_tls_is_only_trusted_with_its_ca(kube):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(kube.url + "/", timeout=5)  # system CAs don't know it


# -- bao helpers ------------------------------------------------------------------


def test_wait_until():
    calls = []
    assert wait_until(lambda: calls.append(1) or len(calls) >= 3 and "done", 5, interval=0.01) == "done"
    with pytest.raises(TimeoutError, match="the impossible"):
        wait_until(lambda: False, 0.1, interval=0.01, what="the impossible")


def test_dev_server_stop_leaves_nothing_behind():
    server = BaoDevServer().start()
    pid, address, log_path = server.pid, server.address, server.log_path
    assert server.client().sys.read_health_status(method="GET")["initialized"]
    assert os.path.exists(log_path)
    server.stop()
    server.stop()  # idempotent
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # exited and reaped, not a zombie
    assert not os.path.exists(log_path)
    with pytest.raises(requests.ConnectionError):
        requests.get(address + "/v1/sys/health", timeout=2)
