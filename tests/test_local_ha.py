"""The 3-node local cluster for real: three OpenBao raft processes, real init
and unseal, real kill -9 of the leader and of a standby, recovery by apply,
and Shamir shares kept by PGP custodians (keys made by gpg in the test)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest
import requests

from tests.support.bao import wait_until
from tests.support.cli import Transcript, assert_clean_failure, assert_no_secrets, clean_env, free_port_run


def ha_spec(port: int, extra_init: str = "", policy_path: str = "secret/data/app/*") -> str:
    return textwrap.dedent(f"""\
        version: 1
        cluster:
          provider: local
          nodes: 3
          listen: 127.0.0.1:{port}
          data_dir: data
          init: {{key_shares: 3, key_threshold: 2, keys_file: data/keys.json{extra_init}}}
        secrets_engines:
          secret: {{type: kv, options: {{version: "2"}}}}
        policies:
          app: |
            path "{policy_path}" {{ capabilities = ["read"] }}
        secrets:
          secret/app/config:
            password: {{env: APP_PASSWORD}}
        """)


def status(t: Transcript, env, work) -> list:
    result = t.run("status", "spec.yaml", "--format", "json", env=env, cwd=work)
    assert result.returncode == 0, result
    return json.loads(result.stdout)["nodes"]


def healthy(nodes) -> bool:
    return (all(n["reachable"] and n["initialized"] and n["sealed"] is False and n["voter"] for n in nodes)
            and sum(1 for n in nodes if n["active"]) == 1)


def pid_of(work: Path, index: int) -> int:
    return int((work / "data" / f"node{index}" / "bao.pid").read_text())


def root_get(node_address: str, token: str, path: str) -> requests.Response:
    return requests.get(f"{node_address}/v1/{path}", headers={"X-Vault-Token": token}, timeout=5)


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["active", "standby"])
def test_three_nodes_come_up_and_survive_kill_9(workdir, tmp_path, victim):
    port = free_port_run(6)
    (workdir / "spec.yaml").write_text(ha_spec(port))
    env = clean_env(tmp_path / "home", APP_PASSWORD="pw-" + os.urandom(6).hex())
    t = Transcript()

    result = t.run("apply", "spec.yaml", "--auto-approve", env=env, cwd=workdir)
    assert result.returncode == 0, result
    nodes = status(t, env, workdir)
    assert [n["name"] for n in nodes] == ["node0", "node1", "node2"]
    assert [n["address"] for n in nodes] == [f"http://127.0.0.1:{port + 2 * i}" for i in range(3)]
    assert healthy(nodes), nodes
    keys = json.loads((workdir / "data" / "keys.json").read_text())
    token = keys["root_token"]

    active = next(i for i, n in enumerate(nodes) if n["active"])
    index = active if victim == "active" else (active + 1) % 3
    os.kill(pid_of(workdir, index), signal.SIGKILL)
    # The spec changes in the same run: it must go to whichever node is active now.
    (workdir / "spec.yaml").write_text(ha_spec(port, policy_path="secret/data/other/*"))

    result = t.run("plan", "spec.yaml", "--detailed-exitcode", env=env, cwd=workdir)
    assert result.returncode == 2, result
    assert f"~ cluster.node[{index}]  (not running)" in result.stdout, result
    assert f"~ cluster.unseal[{index}]  (sealed)" in result.stdout, result

    result = t.run("apply", "spec.yaml", "--auto-approve", env=env, cwd=workdir)
    assert result.returncode == 0, result
    assert "policy.app" in result.stdout, result
    wait_until(lambda: healthy(status(t, env, workdir)), timeout=30, what="three healthy voters")
    nodes = status(t, env, workdir)
    now_active = next(n for n in nodes if n["active"])
    # No data lost: the secret written before the kill is still there, the
    # policy change made in the recovery run is in, on every node's view.
    data = root_get(now_active["address"], token, "secret/data/app/config").json()["data"]
    assert data["data"]["password"] == env["APP_PASSWORD"] and data["metadata"]["version"] == 1
    policy = root_get(now_active["address"], token, "sys/policies/acl/app").json()["data"]["policy"]
    assert "secret/data/other/*" in policy

    result = t.run("plan", "spec.yaml", "--detailed-exitcode", env=env, cwd=workdir)
    assert result.returncode == 0, result

    if victim == "active":
        # A node taken out of raft by hand is planned to rejoin (its data is
        # wiped: old raft data cannot rejoin) and apply brings it back.
        leader = next(n for n in status(t, env, workdir) if n["active"])
        out_node = next(n for n in status(t, env, workdir) if not n["active"])
        removed = requests.post(f"{leader['address']}/v1/sys/storage/raft/remove-peer",
                                headers={"X-Vault-Token": token}, json={"server_id": out_node["name"]}, timeout=10)
        assert removed.status_code in (200, 204), removed.text
        index = int(out_node["name"][len("node"):])
        result = t.run("plan", "spec.yaml", "--detailed-exitcode", env=env, cwd=workdir)
        assert result.returncode == 2, result
        assert f"~ cluster.node[{index}]  (left the raft cluster" in result.stdout, result
        assert t.run("apply", "spec.yaml", "--auto-approve", env=env, cwd=workdir).returncode == 0
        wait_until(lambda: healthy(status(t, env, workdir)), timeout=30, what="three healthy voters")
        assert t.run("plan", "spec.yaml", "--detailed-exitcode", env=env, cwd=workdir).returncode == 0

    if victim == "standby":
        # nodes: 3 -> 1: the two others leave raft first, then stop; data stays.
        (workdir / "spec.yaml").write_text(ha_spec(port, policy_path="secret/data/other/*").replace("nodes: 3", "nodes: 1"))
        result = t.run("plan", "spec.yaml", env=env, cwd=workdir)
        assert "- cluster.node[2]  (removed from the spec (nodes: 1))" in result.stdout, result
        assert "leaves the raft cluster first (remove-peer)" in result.stdout, result
        assert t.run("apply", "spec.yaml", "--auto-approve", env=env, cwd=workdir).returncode == 0
        nodes = status(t, env, workdir)
        assert [n["name"] for n in nodes] == ["node0"] and nodes[0]["active"], nodes
        assert not (workdir / "data" / "node2").exists()
        data = root_get(nodes[0]["address"], token, "secret/data/app/config").json()["data"]
        assert data["data"]["password"] == env["APP_PASSWORD"]
        # ... and back to 3: new nodes join the existing cluster as voters.
        (workdir / "spec.yaml").write_text(ha_spec(port, policy_path="secret/data/other/*"))
        result = t.run("plan", "spec.yaml", env=env, cwd=workdir)
        assert "+ cluster.node[1]  (new node: joins the existing raft cluster" in result.stdout, result
        assert t.run("apply", "spec.yaml", "--auto-approve", env=env, cwd=workdir).returncode == 0
        assert healthy(status(t, env, workdir))
        assert t.run("plan", "spec.yaml", "--detailed-exitcode", env=env, cwd=workdir).returncode == 0

    secrets = [env["APP_PASSWORD"], token, *keys["unseal_keys_b64"], *keys["unseal_keys_hex"]]
    assert_no_secrets(t.text, secrets, "command output")

    result = t.run("destroy", "spec.yaml", "--auto-approve", env=env, cwd=workdir)
    assert result.returncode == 0, result
    assert not (workdir / "data").exists()
    print("\n".join(f"{r.seconds:6.2f}s  vaultform {' '.join(r.args)}" for r in t.results))


# -- PGP custody --------------------------------------------------------------

def gpg(home: Path, *args: str, stdin: bytes = b"") -> bytes:
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--yes", *args],
                          input=stdin, capture_output=True, check=True).stdout


@pytest.fixture
def custodians(tmp_path):
    if shutil.which("gpg") is None:
        pytest.fail("gpg is needed for the PGP custody tests (.ci/run installs Debian's gnupg)")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    files = []
    for name in ("alice", "bob", "carol"):
        gpg(home, "--passphrase", "", "--quick-gen-key", f"{name} <{name}@example.com>", "rsa2048", "encrypt", "never")
        public = tmp_path / "work" / f"{name}.asc"
        public.parent.mkdir(exist_ok=True)
        public.write_bytes(gpg(home, "--export", "--armor", f"{name}@example.com"))
        files.append(public)
    secret = tmp_path / "work" / "alice-private.asc"
    secret.write_bytes(gpg(home, "--export-secret-keys", "--armor", "alice@example.com"))
    yield home, files


def decrypt(home: Path, encrypted_b64: str) -> str:
    import base64
    return gpg(home, "--decrypt", "--quiet", stdin=base64.b64decode(encrypted_b64)).decode().strip()


@pytest.mark.slow
def test_pgp_custodians_unseal_every_node_one_share_at_a_time(workdir, tmp_path, custodians):
    home, _ = custodians
    port = free_port_run(6)
    custody = ", pgp_keys: [alice.asc, bob.asc, carol.asc], root_token_pgp_key: alice.asc"
    (workdir / "spec.yaml").write_text(ha_spec(port, extra_init=custody))
    env = clean_env(tmp_path / "home", APP_PASSWORD="pw-" + os.urandom(6).hex())
    t = Transcript()

    result = t.run("apply", "spec.yaml", "--auto-approve", env=env, cwd=workdir)
    assert result.returncode == 1 and "Traceback" not in result.output, result
    assert "cluster.unseal[0]: node0 is sealed and its shares are held by custodians (0/2 entered)" in result.stderr
    keys_file = workdir / "data" / "keys.json"
    assert keys_file.stat().st_mode & 0o777 == 0o600
    stored = json.loads(keys_file.read_text())
    assert set(stored) == {"pgp", "encrypted_unseal_keys_b64", "unseal_shares", "unseal_threshold", "encrypted_root_token"}
    shares = [decrypt(home, s) for s in stored["encrypted_unseal_keys_b64"]]
    root_token = decrypt(home, stored["encrypted_root_token"])
    # What vaultform stored is ciphertext: no share, no token in the clear.
    assert_no_secrets(keys_file.read_bytes(), shares + [root_token], "keys file")

    first = t.run("unseal", "spec.yaml", env=env, cwd=workdir, stdin=shares[0] + "\n")
    assert first.returncode == 0, first
    assert "node0: 1/2 shares" in first.stdout, first
    repeated = t.run("unseal", "spec.yaml", env=env, cwd=workdir, stdin=shares[0] + "\n")
    assert_clean_failure(repeated)
    assert "already has this share (still 1/2)" in repeated.stderr
    wrong = t.run("unseal", "spec.yaml", env=env, cwd=workdir, stdin="0" * 66 + "\n")
    assert_clean_failure(wrong)
    assert "unseal of node0 was refused" in wrong.stderr, wrong
    # Vault drops the progress after a wrong share: the custodians start over.
    assert "node0: 1/2 shares" in t.run("unseal", "spec.yaml", env=env, cwd=workdir, stdin=shares[0] + "\n").stdout
    second = t.run("unseal", "spec.yaml", env=env, cwd=workdir, stdin=shares[2] + "\n")
    assert second.returncode == 0, second
    assert "node0: unsealed" in second.stdout, second

    # The others join once node0 is unsealed; custodians enter shares for them too.
    env_token = {**env, "VAULT_TOKEN": root_token}
    # A joining node takes its share only once it has joined raft (it then
    # reports itself initialised); entering shares earlier raced the join.
    wait_until(lambda: all(n["initialized"] for n in status(t, env, workdir)), timeout=60,
               what="node1 and node2 joined")
    for share in (shares[1], shares[2]):
        t.run("unseal", "spec.yaml", env=env, cwd=workdir, stdin=share + "\n")
    result = t.run("apply", "spec.yaml", "--auto-approve", env=env_token, cwd=workdir)
    assert result.returncode == 0, result
    wait_until(lambda: healthy(status(t, env_token, workdir)), timeout=30, what="three healthy voters")
    assert t.run("plan", "spec.yaml", "--detailed-exitcode", env=env_token, cwd=workdir).returncode == 0
    assert_no_secrets(t.text, shares + [root_token, env["APP_PASSWORD"]], "command output")


@pytest.mark.parametrize("init, message", [
    (", pgp_keys: [alice.asc, bob.asc]", "2 PGP key(s) for 3 key shares"),
    (", pgp_keys: [alice.asc, bob.asc, alice-private.asc]", "alice-private.asc is a PGP private key"),
    (", pgp_keys: [alice.asc, bob.asc, spec.yaml]", "spec.yaml is not"),
])
def test_bad_custodian_keys_are_refused_before_anything_starts(workdir, tmp_path, custodians, init, message):
    port = free_port_run(6)
    (workdir / "spec.yaml").write_text(ha_spec(port, extra_init=init))
    env = clean_env(tmp_path / "home", APP_PASSWORD="x")
    result = Transcript().run("plan", "spec.yaml", env=env, cwd=workdir)
    assert_clean_failure(result)
    assert "spec.yaml:" in result.stderr and message in result.stderr, result
    assert not (workdir / "data").exists()
