"""Faults end in convergence: vaultform killed with SIGKILL anywhere in a
200-object apply, and the Vault leader killed or stopped mid-apply. After
each, a rerun converges, the ownership record matches Vault, and nothing
outside the spec is touched. Every server here is one the test started,
on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.support.cli import VAULTFORM, Transcript, assert_no_secrets, clean_env, free_port_run
from tests.support.record import recorded_objects

OBJECTS = 200


def spec_for(round_: int, kv: str, record: str) -> dict:
    """Round `round_` of a 200-object spec: every round rewrites some
    policies and secrets, drops some objects and brings others back, so each
    apply has creates, updates and deletes spread over its whole length."""
    policies, secrets = {}, {}
    for j in range(OBJECTS // 2):
        if (j + round_) % 7 == 0:
            continue  # absent this round: deleted if it was there
        rev = round_ if j % 3 == round_ % 3 else 0
        policies[f"fault-p{j}"] = f'path "{kv}/data/app{j}/*" {{ capabilities = ["read"] }}\n# rev {rev}\n'
        secrets[f"{kv}/app{j}/config"] = {"user": f"u{j}", "rev": str(rev)}
    return {"version": 1, "vault": {"record": {"path": record}},
            "secrets_engines": {kv: {"type": "kv", "options": {"version": "2"}}},
            "policies": policies, "secrets": secrets}


def expected_addresses(doc: dict) -> set:
    return ({f"secrets_engine.{m}" for m in doc["secrets_engines"]} | {f"policy.{p}" for p in doc["policies"]}
            | {f"secret.{s}" for s in doc["secrets"]})


def live_addresses(root, kv: str) -> set:
    policies = {f"policy.{p}" for p in root.sys.list_policies()["data"]["policies"] if p.startswith("fault-p")}
    try:
        keys = root.secrets.kv.v2.list_secrets("", mount_point=kv)["data"]["keys"]
    except Exception:  # noqa: BLE001 - an empty mount lists as 404
        keys = []
    secrets = {f"secret.{kv}/{k}config" for k in keys}  # every path here is <dir>/config
    return policies | secrets | {f"secrets_engine.{kv}"}


def run_until_killed(spec: Path, env: dict, after: int) -> str:
    """Start an apply and SIGKILL it once it reports change number `after`."""
    proc = subprocess.Popen([*VAULTFORM, "apply", str(spec), "--auto-approve", "--force"], env={**env, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("[") and int(line[1:line.index("/")]) >= after:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    return "".join(seen)


@pytest.mark.slow
def test_sigkill_at_20_points_of_a_200_object_apply_then_rerun_converges(bao, root, unique, tmp_path, run_cli):
    kv, record = unique("faultkv"), unique("faultrec")
    env = clean_env(tmp_path / "home", VAULT_ADDR=bao.address, VAULT_TOKEN=bao.root_token)
    spec = tmp_path / "vault.yaml"
    # Objects outside the spec, in the same mount and beside the policies: never touched.
    root.sys.enable_secrets_engine("kv", path=kv, options={"version": "2"})
    root.sys.create_or_update_policy("fault-bystander", 'path "x" { capabilities = ["read"] }')
    root.secrets.kv.v2.create_or_update_secret("bystander/config", {"k": "v"}, mount_point=kv)
    doc = spec_for(0, kv, record)
    spec.write_text(yaml.safe_dump(doc))
    t, outputs = Transcript(), []
    assert t.run("apply", str(spec), "--auto-approve", "--force", env=env).returncode == 0

    kill_points = []
    for round_ in range(1, 21):
        doc = spec_for(round_, kv, record)
        spec.write_text(yaml.safe_dump(doc))
        # Spread over the run (each round has over 100 changes): from the
        # first change to well past the middle.
        after = 1 + (round_ - 1) * 5
        printed = run_until_killed(spec, env, after)
        assert "Apply complete!" not in printed and "Traceback" not in printed, printed
        kill_points.append(after)

        if round_ == 1:
            # The dead run's lock is stale: apply says so and how to break it.
            refused = t.run("apply", str(spec), "--auto-approve", "--force", env=env)
            assert refused.returncode == 1 and "the lock is stale" in refused.stderr, refused
        assert run_cli(["unlock", str(spec), "--force"], env=env).exit_code == 0
        rerun = run_cli(["apply", str(spec), "--auto-approve", "--force"], env=env)
        assert rerun.exit_code == 0, str(rerun)
        outputs.append(rerun.stdout + rerun.stderr)
        if round_ % 4 == 0:  # a full plan costs as much as an apply: not every round
            final = run_cli(["plan", str(spec), "--detailed-exitcode"], env=env)
            assert final.exit_code == 0 and "Apply will also" not in final.stdout, str(final)

        # The record matches Vault: exactly the spec's objects, all there.
        assert set(recorded_objects(root, record)) == expected_addresses(doc)
        assert live_addresses(root, kv) == expected_addresses(doc) | {f"secret.{kv}/bystander/config"}

    assert len(set(kill_points)) >= 20, kill_points
    assert root.sys.read_policy("fault-bystander")["data"]["rules"] == 'path "x" { capabilities = ["read"] }'
    bystander = root.secrets.kv.v2.read_secret_version("bystander/config", mount_point=kv,
                                                       raise_on_deleted_version=True)["data"]
    assert bystander["data"] == {"k": "v"} and bystander["metadata"]["version"] == 1
    assert_no_secrets(t.text + "".join(outputs), [bao.root_token], "the output of every run")


# -- the Vault side fails mid-apply ------------------------------------------------------


def cluster_spec(port: int, round_: int) -> dict:
    doc = spec_for(round_, "app", "managed-objects")
    doc["cluster"] = {"provider": "local", "nodes": 3, "listen": f"127.0.0.1:{port}", "data_dir": "data",
                      "init": {"key_shares": 3, "key_threshold": 2, "keys_file": "data/keys.json"}}
    return doc


def active_index(work: Path, token: str, port: int) -> int:
    import requests
    for i in range(3):
        try:
            health = requests.get(f"http://127.0.0.1:{port + 2 * i}/v1/sys/health", timeout=2)
        except requests.RequestException:
            continue
        if health.status_code == 200:
            return i
    raise AssertionError("no active node")


def apply_and_hit_vault(work: Path, env: dict, after: int, hit) -> subprocess.CompletedProcess:
    """Start an apply; once it reports change number `after`, call hit()."""
    proc = subprocess.Popen([*VAULTFORM, "apply", "spec.yaml", "--auto-approve", "--force"], cwd=work,
                            env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    out = []
    for line in proc.stdout:
        out.append(line)
        if line.startswith("[") and int(line[1:line.index("/")]) >= after:
            hit()
            break
    rest, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "".join(out) + rest, err)


@pytest.mark.slow
def test_leader_killed_then_stopped_mid_apply_gives_one_line_and_a_rerun_converges(workdir, tmp_path):
    port = free_port_run(6)
    env = clean_env(tmp_path / "home")
    spec = workdir / "spec.yaml"
    spec.write_text(yaml.safe_dump(cluster_spec(port, 0)))
    t = Transcript()
    assert t.run("apply", "spec.yaml", "--auto-approve", "--force", env=env, cwd=workdir).returncode == 0
    keys = json.loads((workdir / "data" / "keys.json").read_text())
    token = keys["root_token"]
    hits = []

    for round_, how in ((1, signal.SIGKILL), (2, signal.SIGTERM)):
        doc = cluster_spec(port, round_)
        spec.write_text(yaml.safe_dump(doc))
        leader = active_index(workdir, token, port)
        pid = int((workdir / "data" / f"node{leader}" / "bao.pid").read_text())
        hit = apply_and_hit_vault(workdir, env, 40, lambda: os.kill(pid, how))
        hits.append(hit)
        assert hit.returncode == 1, hit
        errors = [line for line in hit.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "Traceback" not in hit.stderr, hit.stderr
        assert "Vault at http://127.0.0.1:" in errors[0], errors  # names the node that went away
        # The lock lives in the cluster: released on the new leader, so the
        # rerun needs no `unlock`.
        assert "vaultform unlock" not in hit.stderr, hit.stderr

        # The rerun brings the node back, unseals it, follows the new leader
        # and finishes the work.
        rerun = t.run("apply", "spec.yaml", "--auto-approve", "--force", env=env, cwd=workdir)
        assert rerun.returncode == 0, rerun
        final = t.run("plan", "spec.yaml", "--detailed-exitcode", env=env, cwd=workdir)
        assert final.returncode == 0 and "Apply will also" not in final.stdout, final

        import hvac
        now = active_index(workdir, token, port)
        root = hvac.Client(url=f"http://127.0.0.1:{port + 2 * now}", token=token)
        assert set(recorded_objects(root)) == expected_addresses(doc)
        assert live_addresses(root, "app") == expected_addresses(doc)

    secrets = [token, *keys["unseal_keys_b64"], *keys["unseal_keys_hex"]]
    assert_no_secrets(t.text + "".join(h.stdout + h.stderr for h in hits), secrets, "every run's output")
