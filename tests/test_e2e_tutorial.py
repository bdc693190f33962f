"""The tutorial, end to end, on the embedded local cluster.

vaultform stands in for every command of the tutorial (helm install, operator
init with 2 shares, unseal, kv-v2, kubernetes auth, the webapp policy and
role, the webapp secret); the test then plays the app's part (log in with its
service-account JWT, read the secret) against a fake Kubernetes API, kills the
node and lets vaultform bring it back, and destroys everything. Every byte
vaultform printed or wrote (except the keys file) is scanned for secrets.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import textwrap
from pathlib import Path

import hvac
import pytest
import requests
import yaml

from tests.support.bao import wait_until
from tests.support.cli import (
    Transcript,
    assert_no_secrets,
    bao_pids_under,
    clean_env,
    free_port_run,
    kill_bao_under,
    pid_alive,
)
from tests.support.kube import FakeKubernetesAPI
from tests.support.record import recorded_objects

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture
def kube():
    with FakeKubernetesAPI() as api:
        yield api


def tutorial_spec(port: int, kube: FakeKubernetesAPI) -> str:
    return textwrap.dedent(f"""\
        version: 1
        cluster:
          provider: local
          nodes: 1
          listen: 127.0.0.1:{port}
          data_dir: data
          init:
            key_shares: 2
            key_threshold: 2
            keys_file: keys/cluster-keys.json
        secrets_engines:
          secret:
            type: kv
            options: {{version: "2"}}
        auth:
          kubernetes:
            type: kubernetes
            config:
              kubernetes_host: {kube.url}
              kubernetes_ca_cert: {{file: ca.crt}}
              issuer: {kube.issuer}
              # The tutorial sets the issuer to have it checked; OpenBao only
              # does that with this (its default is true).
              disable_iss_validation: false
            roles:
              webapp:
                bound_service_account_names: vault
                bound_service_account_namespaces: default
                policies: webapp
                ttl: 24h
        policies:
          webapp: |
            path "secret/data/webapp/config" {{
              capabilities = ["read"]
            }}
        secrets:
          secret/webapp/config:
            username: static-user
            password: {{env: WEBAPP_PASSWORD}}
        """)


def vault_get(address: str, token: str, path: str) -> requests.Response:
    return requests.get(f"{address}/v1/{path}", headers={"X-Vault-Token": token}, timeout=10)


def login(address: str, jwt: str, role: str = "webapp") -> requests.Response:
    return requests.post(f"{address}/v1/auth/kubernetes/login", json={"jwt": jwt, "role": role}, timeout=10)


def read_keys(path: Path) -> dict:
    keys = json.loads(path.read_text())
    assert len(keys["unseal_keys_b64"]) == 2 and len(keys["unseal_keys_hex"]) == 2, keys.keys()
    assert keys["root_token"]
    return keys


def secret_values(keys: dict, *extra: str) -> list:
    return [*keys["unseal_keys_b64"], *keys["unseal_keys_hex"], keys["root_token"], *extra]


def scan_tree(root: Path, secret_list, skip=()) -> list:
    """Assert no file under root (binary ones included) holds a secret; return the files read."""
    skip = {Path(p).resolve() for p in skip}
    seen = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.resolve() not in skip:
            assert_no_secrets(path.read_bytes(), secret_list, f"file {path}")
            seen.append(path)
    return seen


def test_tutorial_end_to_end(kube, workdir, tmp_path):
    port = free_port_run(2)
    address = f"http://127.0.0.1:{port}"
    password = "pw-" + secrets.token_urlsafe(18)
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home, WEBAPP_PASSWORD=password)
    spec = workdir / "vault.yaml"
    spec.write_text(tutorial_spec(port, kube))
    kube.write_ca(workdir / "ca.crt")
    data_dir, keys_file = workdir / "data", workdir / "keys" / "cluster-keys.json"
    pid_file = data_dir / "node0" / "bao.pid"
    cli = Transcript()

    # -- 1. apply from nothing: start, init (2 shares), unseal, configure ----------
    first = cli.run("apply", str(spec), "--auto-approve", env=env, cwd=workdir)
    assert first.returncode == 0, str(first)
    bring_up = first.seconds
    print(f"\nbring-up (nothing -> configured, one `vaultform apply`): {bring_up:.2f}s")
    for address_shown in ("cluster.node[0]", "cluster.init", "cluster.unseal[0]", "secrets_engine.secret",
                          "auth_method.kubernetes", "kubernetes_config.kubernetes",
                          "kubernetes_role.kubernetes/webapp", "policy.webapp", "secret.secret/webapp/config"):
        assert address_shown in first.stdout, str(first)
    assert "Apply complete!" in first.stdout, str(first)
    assert "WARNING: the unseal keys and the root token were written to" in first.stderr, str(first)
    assert "Warning" not in first.stderr, first  # the tutorial spec has nothing to warn about

    assert keys_file.is_file(), str(first)
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    keys = read_keys(keys_file)
    root = keys["root_token"]
    all_secrets = secret_values(keys, password)
    assert stat.S_IMODE((data_dir / "node0").stat().st_mode) & 0o077 == 0

    seal = requests.get(f"{address}/v1/sys/seal-status", timeout=5).json()
    assert (seal["initialized"], seal["sealed"], seal["n"], seal["t"]) == (True, False, 2, 2), seal
    mounts = vault_get(address, root, "sys/mounts").json()["data"]
    assert mounts["secret/"]["type"] == "kv" and mounts["secret/"]["options"] == {"version": "2"}
    assert vault_get(address, root, "sys/auth").json()["data"]["kubernetes/"]["type"] == "kubernetes"
    policy = vault_get(address, root, "sys/policies/acl/webapp").json()["data"]["policy"]
    assert 'path "secret/data/webapp/config"' in policy and '"read"' in policy
    config = vault_get(address, root, "auth/kubernetes/config").json()["data"]
    assert config["kubernetes_host"] == kube.url
    assert config["kubernetes_ca_cert"] == kube.ca_pem
    assert config["issuer"] == kube.issuer and config["disable_iss_validation"] is False
    role = vault_get(address, root, "auth/kubernetes/role/webapp").json()["data"]
    assert role["bound_service_account_names"] == ["vault"]
    assert role["bound_service_account_namespaces"] == ["default"]
    assert role["token_policies"] == ["webapp"] and role["token_ttl"] == 86400
    stored = vault_get(address, root, "secret/data/webapp/config").json()["data"]
    assert stored["data"] == {"username": "static-user", "password": password}
    assert stored["metadata"]["version"] == 1

    # -- 2. a second plan has nothing to do -------------------------------------------
    again = cli.run("plan", str(spec), "--detailed-exitcode", env=env, cwd=workdir)
    assert again.returncode == 0, str(again)
    assert "No changes." in again.stdout, str(again)

    # -- 3. the app's side of the tutorial: log in with the SA JWT, read the secret ----
    answer = login(address, kube.issue_token("default", "vault"))
    assert answer.status_code == 200, answer.text
    app_token = answer.json()["auth"]["client_token"]
    assert sorted(answer.json()["auth"]["token_policies"]) == ["default", "webapp"]
    got = vault_get(address, app_token, "secret/data/webapp/config")
    assert got.status_code == 200, got.text
    assert got.json()["data"]["data"] == {"username": "static-user", "password": password}
    # ... and nothing else.
    requests.post(f"{address}/v1/secret/data/webapp/other", headers={"X-Vault-Token": root},
                  json={"data": {"k": "v"}}, timeout=5).raise_for_status()
    for path in ("secret/data/webapp/other", "secret/metadata/webapp/config", "sys/policies/acl",
                 "sys/mounts", "auth/kubernetes/config", "vaultform/data/managed-objects/00"):
        assert vault_get(address, app_token, path).status_code == 403, path
    write = requests.post(f"{address}/v1/secret/data/webapp/config", headers={"X-Vault-Token": app_token},
                          json={"data": {"password": "x"}}, timeout=5)
    assert write.status_code == 403, write.text
    # Other service accounts, or the right name in another namespace, are refused.
    for namespace, name in (("default", "default"), ("other", "vault")):
        refused = login(address, kube.issue_token(namespace, name))
        assert refused.status_code in (400, 403), (namespace, name, refused.status_code, refused.text)
        assert not (refused.json().get("auth") or {}).get("client_token")
    # A JWT from another issuer (that the Kubernetes API would still vouch for) is refused,
    wrong_issuer = login(address, kube.issue_token("default", "vault", issuer="https://issuer.example"))
    assert wrong_issuer.status_code == 403 and "issuer" in wrong_issuer.text, wrong_issuer.text
    # and so is a JWT that the (fake) Kubernetes API does not vouch for.
    forged = kube.issue_token("default", "vault")
    kube.revoke(forged)
    assert login(address, forged).status_code in (400, 403)

    # -- 4. kill -9 the node: plan shows start + unseal, apply brings it back --------
    pid = int(pid_file.read_text())
    assert pid_alive(pid)
    os.kill(pid, 9)
    wait_until(lambda: not pid_alive(pid), 10, what="the killed bao process to be gone")

    down = cli.run("plan", str(spec), "--detailed-exitcode", env=env, cwd=workdir)
    assert down.returncode == 2, str(down)
    assert re.search(r"~ cluster\.node\[0\]\s+\(not running\)", down.stdout), str(down)
    assert re.search(r"~ cluster\.unseal\[0\]\s+\(sealed\)", down.stdout), str(down)
    assert "cluster.init" not in down.stdout, str(down)  # the raft data is still initialised
    assert "+ secret" not in down.stdout and "+ policy" not in down.stdout, str(down)

    # A keys file others can read is refused rather than used (the node starts, stays sealed).
    keys_file.chmod(0o644)
    loose = cli.run("apply", str(spec), "--auto-approve", env=env, cwd=workdir)
    assert loose.returncode == 1, str(loose)
    assert f"keys file {keys_file} is readable by others (mode 644); chmod 600 it" in loose.stderr, str(loose)
    assert "Traceback" not in loose.output
    assert requests.get(f"{address}/v1/sys/seal-status", timeout=5).json()["sealed"] is True
    keys_file.chmod(0o600)

    back = cli.run("apply", str(spec), "--auto-approve", env=env, cwd=workdir)
    assert back.returncode == 0, str(back)
    assert "cluster.init" not in back.stdout, str(back)
    assert "No changes. Vault matches the spec." in back.stdout, str(back)  # the configuration survived
    assert json.loads(keys_file.read_text())["root_token"] == root  # not re-initialised
    new_pid = int(pid_file.read_text())
    assert new_pid != pid and pid_alive(new_pid)
    assert requests.get(f"{address}/v1/sys/seal-status", timeout=5).json()["sealed"] is False
    stored = vault_get(address, root, "secret/data/webapp/config").json()["data"]
    assert stored["data"] == {"username": "static-user", "password": password}
    assert stored["metadata"]["version"] == 1  # the data persisted; nothing was rewritten
    assert vault_get(address, app_token, "secret/data/webapp/config").status_code == 200  # tokens too
    assert login(address, kube.issue_token("default", "vault")).status_code == 200

    settled = cli.run("plan", str(spec), "--detailed-exitcode", env=env, cwd=workdir)
    assert settled.returncode == 0, str(settled)

    # -- 4b. the node is down and the keys file is gone: no second init over the data --
    kill_bao_under(workdir)
    stash = tmp_path / "stashed-keys.json"
    keys_file.rename(stash)
    lost = cli.run("apply", str(spec), "--auto-approve", env=env, cwd=workdir)
    assert lost.returncode == 1, str(lost)
    assert (f"Error: cluster.init: node0 is already initialised, but there is no keys file at {keys_file} "
            "to unseal it with") in lost.stderr, str(lost)
    assert not keys_file.exists()  # nothing was re-initialised or overwritten
    stash.rename(keys_file)
    restored = cli.run("apply", str(spec), "--auto-approve", env=env, cwd=workdir)
    assert restored.returncode == 0 and "No changes. Vault matches the spec." in restored.stdout, str(restored)
    new_pid = int(pid_file.read_text())

    # The ownership record vaultform keeps in Vault names objects, never values.
    record = recorded_objects(hvac.Client(url=address, token=root))
    assert "secret.secret/webapp/config" in record, record
    assert_no_secrets(json.dumps(record), all_secrets, "the ownership record")

    # Everything vaultform wrote so far, bao's logs and raft files included.
    scanned = scan_tree(workdir, all_secrets, skip=[keys_file])
    assert data_dir / "node0" / "bao.log" in scanned
    scan_tree(home, all_secrets)

    # -- 5. destroy: process stopped, data dir and keys file gone --------------------
    gone = cli.run("destroy", str(spec), "--auto-approve", env=env, cwd=workdir)
    assert gone.returncode == 0, str(gone)
    wait_until(lambda: not pid_alive(new_pid), 10, what="bao to stop after destroy")
    assert bao_pids_under(workdir) == []
    assert not data_dir.exists(), sorted(map(str, data_dir.rglob("*")))
    assert not keys_file.exists()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{address}/v1/sys/health", timeout=2)
    after = cli.run("plan", str(spec), "--detailed-exitcode", env=env, cwd=workdir)
    assert after.returncode == 2 and "cluster.init" in after.stdout, str(after)
    assert not data_dir.exists()  # planning does not start or create anything

    # -- secret scan over everything printed and whatever is left on disk ---------
    assert_no_secrets(cli.text, all_secrets, "vaultform's output")
    scan_tree(tmp_path, all_secrets)
    assert list(home.iterdir()) == []  # no ~/.vault-token or anything else


def test_readme_example_applies_plans_empty_and_destroys(workdir, tmp_path):
    """README command 1, literally: `vaultform apply examples/vault.yaml --auto-approve`."""
    # A data dir left in the checkout by someone's local run is not part of the example.
    shutil.copytree(EXAMPLES, workdir / "examples", ignore=shutil.ignore_patterns(".vaultform"))
    spec = workdir / "examples" / "vault.yaml"
    copied = sorted(p.name for p in spec.parent.iterdir())
    port = free_port_run(6)  # three nodes, each an API and a cluster port
    text = spec.read_text()
    assert "listen: 127.0.0.1:8200" in text
    spec.write_text(text.replace("listen: 127.0.0.1:8200", f"listen: 127.0.0.1:{port}"))
    settings = yaml.safe_load(spec.read_text())
    data_dir = spec.parent / settings["cluster"]["data_dir"]
    keys_file = spec.parent / settings["cluster"]["init"]["keys_file"]
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home)
    cli = Transcript()

    applied = cli.run("apply", "examples/vault.yaml", "--auto-approve", env=env, cwd=workdir)
    assert applied.returncode == 0, str(applied)
    assert "Apply complete!" in applied.stdout, str(applied)
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    keys = read_keys(keys_file)
    address = f"http://127.0.0.1:{port}"
    stored = vault_get(address, keys["root_token"], "secret/data/webapp/config").json()["data"]["data"]
    assert stored["username"] == "static-user" and len(stored["password"]) == 32
    all_secrets = secret_values(keys, stored["password"])
    status = cli.run("status", "examples/vault.yaml", "--format", "json", env=env, cwd=workdir)
    nodes = json.loads(status.stdout)["nodes"]
    assert len(nodes) == 3 and sum(bool(n["active"]) for n in nodes) == 1, nodes
    assert all(n["sealed"] is False and n["voter"] for n in nodes), nodes

    planned = cli.run("plan", "examples/vault.yaml", "--detailed-exitcode", env=env, cwd=workdir)
    assert planned.returncode == 0, str(planned)
    assert "No changes." in planned.stdout, str(planned)
    # The generated password is made once and kept.
    again = vault_get(address, keys["root_token"], "secret/data/webapp/config").json()["data"]
    assert again["data"]["password"] == stored["password"] and again["metadata"]["version"] == 1
    scan_tree(workdir, all_secrets, skip=[keys_file])

    destroyed = cli.run("destroy", "examples/vault.yaml", "--auto-approve", env=env, cwd=workdir)
    assert destroyed.returncode == 0, str(destroyed)
    assert bao_pids_under(workdir) == []
    assert not data_dir.exists() and not keys_file.exists()
    assert sorted(p.name for p in spec.parent.iterdir()) == copied
    assert_no_secrets(cli.text, all_secrets, "vaultform's output")
    scan_tree(tmp_path, all_secrets)


def test_platform_example_applies_replans_empty_and_logs_in_through_its_groups(workdir, tmp_path):
    """examples/platform.yaml: every typed auth method, identity groups and a generic path on a
    one-node local cluster; the break-glass login maps to alice, whose groups give her their policies."""
    shutil.copytree(EXAMPLES, workdir / "examples", ignore=shutil.ignore_patterns(".vaultform*"))
    spec = workdir / "examples" / "platform.yaml"
    port = free_port_run(2)
    text = spec.read_text()
    assert "listen: 127.0.0.1:8250" in text
    spec.write_text(text.replace("listen: 127.0.0.1:8250", f"listen: 127.0.0.1:{port}"))
    settings = yaml.safe_load(spec.read_text())
    keys_file = spec.parent / settings["cluster"]["init"]["keys_file"]
    home = tmp_path / "home"
    home.mkdir()
    password = "correct horse battery staple 42 \"'ü"
    env = {**clean_env(home), "BREAKGLASS_PASSWORD": password}
    cli = Transcript()

    applied = cli.run("apply", "examples/platform.yaml", "--auto-approve", env=env, cwd=workdir)
    assert applied.returncode == 0 and "Apply complete!" in applied.stdout, str(applied)
    planned = cli.run("plan", "examples/platform.yaml", "--detailed-exitcode", env=env, cwd=workdir)
    assert planned.returncode == 0 and "No changes." in planned.stdout, str(planned)

    address = f"http://127.0.0.1:{port}"
    try:
        _check_platform_login(address, password)
    finally:
        keys = json.loads(keys_file.read_text())  # one share here
        destroyed = cli.run("destroy", "examples/platform.yaml", "--auto-approve", env=env, cwd=workdir)
    assert destroyed.returncode == 0, str(destroyed)
    assert bao_pids_under(workdir) == []
    assert_no_secrets(cli.text, [password] + secret_values(keys), "vaultform's output")


def _check_platform_login(address: str, password: str) -> None:
    login = requests.post(f"{address}/v1/auth/userpass/login/breakglass", json={"password": password}, timeout=10)
    assert login.status_code == 200, login.text
    auth = login.json()["auth"]
    assert auth["token_policies"] == ["admin", "default"]
    assert set(auth["identity_policies"]) == {"payments-read", "admin"}  # from payments-devs and platform-admins
