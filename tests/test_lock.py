"""The apply lock, against a real OpenBao dev server.

Two applies at once: the second fails fast naming the holder. The lock is
released after success, failure, Ctrl-C and SIGTERM; a stale one (its holder
was killed) is broken with `vaultform unlock`; and the check-and-set it is
built on lets exactly one of several racing acquirers win.

A run that holds the lock is made deterministic in one of two ways: a
separate Python process enters `apply_lock` (the same code apply uses) and
waits, or an in-process apply is parked inside a policy write on an event.
Each test uses its own ownership record path, so its own lock key.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import pytest
import yaml

from tests.support.cli import (
    Result,
    assert_clean_failure,
    assert_no_secrets,
    clean_env,
    free_port_run,
    kill_bao_under,
    run,
)
from vaultform import __version__
from vaultform.connection import VaultAPI
from vaultform.kinds.policy import Policy
from vaultform.lock import (
    FREE,
    HELD,
    LockChanged,
    LockHeld,
    LockLocation,
    describe_holder,
    held_content,
    read_lock,
    release_lock,
    take_lock,
    write_if_unchanged,
)

POLICY = 'path "secret/data/app/*" { capabilities = ["read"] }'
ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
HOLDER_TEXT = re.escape(f"@{socket.gethostname()}")

# A process that takes the apply lock exactly as `vaultform apply` does, says
# so, and then holds it until it is killed or terminated.
HOLDER_SCRIPT = """
import sys, time
from vaultform.commands.common import build_context
from vaultform.lock import apply_lock
from vaultform.loading import load_spec
ctx = build_context(load_spec(sys.argv[1]), None)
with apply_lock(ctx):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def record(unique):
    return unique("lockrec")


@pytest.fixture
def spec(tmp_path, record, unique):
    """A spec with one policy (named uniquely) and its own record, so its own lock."""
    path = tmp_path / "vault.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "vault": {"record": {"path": record}},
                                    "policies": {unique("pol"): POLICY}}), encoding="utf-8")
    return path


@pytest.fixture
def policy_name(spec):
    return next(iter(yaml.safe_load(spec.read_text())["policies"]))


@pytest.fixture
def api(bao):
    return VaultAPI(bao.address, token=bao.root_token)


@pytest.fixture
def vf(run_cli, vault_env):
    """`vf("apply", ...)`: vaultform run in this process (fast), as a support.cli Result."""
    def call(*args: str, env: Optional[dict] = None, input: Optional[str] = None) -> Result:
        started = time.monotonic()
        result = run_cli(list(args), env={**vault_env, **(env or {})}, input=input)
        assert result.exception is None, f"main() let an exception escape: {result.exception!r}"
        return Result(list(args), result.exit_code, result.stdout, result.stderr, time.monotonic() - started)
    return call


@pytest.fixture
def env(bao, tmp_path):
    """The environment of a vaultform subprocess (its own HOME)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return clean_env(home, VAULT_ADDR=bao.address, VAULT_TOKEN=bao.root_token)


def location(record: str, mount: str = "vaultform") -> LockLocation:
    return LockLocation(mount, f"{record}-lock")


def ensure_record_mount(api: VaultAPI) -> None:
    if "vaultform/" not in (api.read("sys/mounts") or {}).get("data", {}):
        api.write("sys/mounts/vaultform", {"type": "kv", "options": {"version": "2"}})


@contextmanager
def lock_holder(spec: Path, env: dict):
    """A live process holding the lock for `spec` (terminated on the way out if still alive)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER_SCRIPT, str(spec)], env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "held", f"holder did not take the lock: {line!r} {proc.stderr.read()}"
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()  # SIGTERM: it releases the lock on its way out
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def assert_names_holder(result, pid: int) -> None:
    assert_clean_failure(result)
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "the apply lock on Vault at" in error, result
    assert re.search(HOLDER_TEXT + rf" \(pid {pid}, vaultform {re.escape(__version__)}, apply\) "
                     rf"since {ISO_UTC} \(\d+s ago\)", error), result
    assert "vaultform unlock " in error, result


# -- two applies at once -----------------------------------------------------------------


def test_second_of_two_concurrent_applies_fails_fast_naming_the_holder(
        spec, record, policy_name, env, api, root, run_cli, vault_env, monkeypatch, vf):
    # The first apply runs in this process and parks inside its policy write,
    # i.e. while it holds the lock; the second is a real `vaultform apply`.
    inside, finish = threading.Event(), threading.Event()
    original_create = Policy.create

    def parked_create(self, ctx, res):
        inside.set()
        assert finish.wait(30), "the test never let the first apply finish"
        return original_create(self, ctx, res)

    monkeypatch.setattr(Policy, "create", parked_create)
    first = {}
    thread = threading.Thread(target=lambda: first.update(
        result=run_cli(["apply", str(spec), "--auto-approve"], env=vault_env)))
    thread.start()
    try:
        assert inside.wait(30), "the first apply never reached its policy write"
        second = run("apply", str(spec), "--auto-approve", env=env)
    finally:
        finish.set()
        thread.join(30)

    assert_names_holder(second, os.getpid())
    assert second.seconds < 10, second  # fails at once, does not wait for the holder
    assert "creating..." not in second.stdout, second
    assert_no_secrets(second.output, [root.token], "the refused apply's output")
    assert first["result"].exit_code == 0, str(first["result"])
    assert policy_name in root.sys.list_acl_policies()["data"]["keys"]

    after = read_lock(api, location(record))
    assert not after.held and after.content["state"] == FREE, after
    assert after.content["released_by"].endswith(f"(pid {os.getpid()})")
    monkeypatch.undo()
    again = vf("apply", str(spec), "--auto-approve")
    assert again.returncode == 0 and "No changes" in again.stdout, again


def test_apply_refused_while_held_changes_nothing_and_sigterm_releases(
        spec, record, policy_name, env, api, root, vf):
    with lock_holder(spec, env) as holder:
        held = read_lock(api, location(record))
        assert held.held and held.content["state"] == HELD and held.content["pid"] == holder.pid
        assert_no_secrets(json.dumps(held.content), [root.token], "the lock's content")

        refused = vf("apply", str(spec), "--auto-approve")
        assert_names_holder(refused, holder.pid)
        assert "; that process is still running on this machine; wait for that run" in refused.stderr, refused
        assert policy_name not in root.sys.list_acl_policies()["data"]["keys"]
        assert read_lock(api, location(record)).version == held.version  # the refusal wrote nothing

        # Planning is read-only and never waits for the lock; the lock key
        # (under vaultform's own mount) is not something plans show.
        plan = vf("plan", str(spec), "--detailed-exitcode")
        assert plan.returncode == 2 and f"+ policy.{policy_name}" in plan.stdout, plan
        assert "-lock" not in plan.output, plan

        # CI cancels a job with SIGTERM: the holder releases on its way out.
        holder.send_signal(signal.SIGTERM)
        holder.wait(10)
    freed = read_lock(api, location(record))
    assert not freed.held and freed.version == held.version + 1, freed
    applied = vf("apply", str(spec), "--auto-approve")
    assert applied.returncode == 0 and "Apply complete!" in applied.stdout, applied


# -- released on failure and on Ctrl-C ---------------------------------------------------


def test_lock_released_after_a_failed_apply(spec, record, unique, api, root, vf):
    ensure_record_mount(api)
    assert vf("apply", str(spec), "--auto-approve").returncode == 0
    before = read_lock(api, location(record))

    # A token that can plan and keep the record and the lock, but not write policies.
    name = unique("cannot-write-policies")
    root.sys.create_or_update_policy(name, f"""
path "*" {{ capabilities = ["read", "list"] }}
path "vaultform/data/{record}" {{ capabilities = ["create", "read", "update"] }}
path "vaultform/metadata/{record}/" {{ capabilities = ["list"] }}
path "vaultform/data/{record}/*" {{ capabilities = ["create", "read", "update"] }}
path "vaultform/data/{record}-lock" {{ capabilities = ["create", "read", "update"] }}
""")
    token = root.auth.token.create(policies=[name], ttl="5m")["auth"]["client_token"]
    doc = yaml.safe_load(spec.read_text())
    doc["policies"][unique("pol")] = POLICY
    spec.write_text(yaml.safe_dump(doc), encoding="utf-8")

    failed = vf("apply", str(spec), "--auto-approve", env={"VAULT_TOKEN": token})
    assert_clean_failure(failed)
    assert "permission denied: POST sys/policies/acl/" in failed.stderr, failed  # at the change, past the lock
    assert "Done: nothing." in failed.stderr and "Failed: policy." in failed.stderr, failed
    assert_no_secrets(failed.output, [token, root.token], "the failed apply's output")
    after = read_lock(api, location(record))
    assert not after.held and after.version == before.version + 2, after  # taken, then released


def test_lock_released_on_ctrl_c(spec, record, run_cli, vault_env, api, monkeypatch):
    def interrupted(self, ctx, res):
        raise KeyboardInterrupt

    monkeypatch.setattr(Policy, "create", interrupted)
    result = run_cli(["apply", str(spec), "--auto-approve"], env=vault_env)
    assert result.exit_code == 130 and "Interrupted." in result.stderr, str(result)
    state = read_lock(api, location(record))
    assert not state.held and state.version == 2, state


def test_no_op_and_unconfirmed_applies_write_no_lock(spec, record, policy_name, env, api, vf):
    assert vf("apply", str(spec), "--auto-approve").returncode == 0
    taken_and_released = read_lock(api, location(record))
    assert taken_and_released.version == 2

    with lock_holder(spec, env):
        # Nothing to change: nothing written, so nothing to lock or to be blocked by.
        no_op = vf("apply", str(spec), "--auto-approve")
        assert no_op.returncode == 0 and "No changes" in no_op.stdout, no_op
    assert read_lock(api, location(record)).version == taken_and_released.version + 2  # the holder's only

    doc = yaml.safe_load(spec.read_text())
    doc["policies"][policy_name] = POLICY + "\n"
    spec.write_text(yaml.safe_dump(doc), encoding="utf-8")
    unconfirmed = vf("apply", str(spec))  # no terminal: refused before anything is written
    assert_clean_failure(unconfirmed)
    assert "no terminal to confirm on" in unconfirmed.stderr, unconfirmed
    assert read_lock(api, location(record)).version == taken_and_released.version + 2


# -- breaking a stale lock ---------------------------------------------------------------


def test_unlock_breaks_a_stale_lock(spec, record, env, api, root, vf):
    with lock_holder(spec, env) as holder:
        holder.kill()  # dies holding the lock: nothing releases it
        holder.wait(10)
        dead_pid = holder.pid
    stale = read_lock(api, location(record))
    assert stale.held

    refused = vf("apply", str(spec), "--auto-approve")
    assert_names_holder(refused, dead_pid)
    assert "that process no longer runs on this machine, so the lock is stale: break it with" in refused.stderr

    unconfirmed = vf("unlock", str(spec))  # no terminal, no --force
    assert_clean_failure(unconfirmed)
    assert "pass --force" in unconfirmed.stderr, unconfirmed
    assert re.search(HOLDER_TEXT + rf" \(pid {dead_pid}, .*\) since {ISO_UTC}", unconfirmed.stdout), unconfirmed
    assert read_lock(api, location(record)).held

    broken = vf("unlock", str(spec), "--force")
    assert broken.returncode == 0, broken
    assert "is held by " in broken.stdout and f"(pid {dead_pid}, vaultform {__version__}, apply)" in broken.stdout
    assert "That process no longer runs on this machine" in broken.stdout, broken
    assert "Apply lock broken." in broken.stdout, broken
    assert_no_secrets(broken.output + unconfirmed.output, [root.token], "unlock's output")
    state = read_lock(api, location(record))
    assert not state.held and "broken_by" in state.content, state

    assert vf("apply", str(spec), "--auto-approve").returncode == 0
    nothing = vf("unlock", str(spec), "--force")
    assert nothing.returncode == 0 and "No apply lock is held" in nothing.stdout, nothing


def test_unlock_asks_on_a_terminal_and_only_yes_breaks(spec, record, api, vf, monkeypatch):
    ensure_record_mount(api)
    held = take_lock(api, location(record))  # this live process holds it
    monkeypatch.setattr("vaultform.commands.unlock._interactive", lambda: True)
    kept = vf("unlock", str(spec), input="y\n")
    assert kept.returncode == 1 and "Error: unlock cancelled; the lock is still held" in kept.stderr, kept
    assert "Break the lock? Only 'yes' will be accepted" in kept.stdout, kept
    assert "That process is still running on this machine." in kept.stdout, kept
    assert "the two may interleave" in kept.stdout, kept
    assert read_lock(api, location(record)).version == held.version
    broken = vf("unlock", str(spec), input="yes\n")
    assert broken.returncode == 0 and "Apply lock broken." in broken.stdout, broken
    assert release_lock(api, held) is False  # the broken holder finds out, and leaves it alone


def test_release_after_the_lock_was_broken_and_retaken_leaves_it_held(spec, record, api, vf):
    ensure_record_mount(api)
    where = location(record)
    first = take_lock(api, where)
    assert vf("unlock", str(spec), "--force").returncode == 0
    second = take_lock(api, where, command="destroy")
    assert release_lock(api, first) is False  # the old holder cannot free the newcomer's lock
    state = read_lock(api, where)
    assert state.held and state.version == second.version and state.content["command"] == "destroy"
    assert release_lock(api, second) is True
    assert not read_lock(api, where).held


# -- check-and-set ----------------------------------------------------------------------


def test_two_writers_with_the_same_version_exactly_one_wins(record, api):
    ensure_record_mount(api)
    where = location(record)
    seen = read_lock(api, where)
    assert seen.version == 0 and seen.content is None
    outcomes = []
    for who in ("a", "b"):
        try:
            outcomes.append(write_if_unchanged(api, where, {"state": HELD, "holder": who}, seen.version))
        except LockChanged:
            outcomes.append("refused")
    assert outcomes == [1, "refused"]
    assert read_lock(api, where).content["holder"] == "a"


def test_racing_acquirers_exactly_one_wins(record, bao, api):
    """Six acquirers released at once by a barrier, each on its own connection.

    Each key is raced twice: once while it does not exist yet (the race that
    a data read followed by a metadata read can lose) and once when it is free.
    """
    ensure_record_mount(api)
    for round_ in range(8):
        where = location(f"{record}-{round_ // 2}")
        start = threading.Barrier(6)
        results = [None] * 6

        def acquire(i, start=start, results=results, where=where):
            own_api = VaultAPI(bao.address, token=bao.root_token)  # own connection, like another process
            start.wait()
            try:
                results[i] = take_lock(own_api, where)
            except LockHeld as exc:
                results[i] = exc

        threads = [threading.Thread(target=acquire, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        winners = [r for r in results if not isinstance(r, LockHeld)]
        assert len(winners) == 1, (round_, results)
        assert all(re.search(HOLDER_TEXT, str(r)) for r in results if isinstance(r, LockHeld)), results
        assert read_lock(api, where).version == winners[0].version
        assert release_lock(api, winners[0])


def test_a_lock_deleted_by_hand_is_free(record, api):
    ensure_record_mount(api)
    where = location(record)
    held = take_lock(api, where)
    api.delete(where.data_path)  # `bao kv delete vaultform/<record>-lock`
    seen = read_lock(api, where)
    assert not seen.held and seen.version == held.version, seen
    retaken = take_lock(api, where)
    assert retaken.version == held.version + 1
    assert release_lock(api, held) is False and release_lock(api, retaken) is True


def test_the_holder_names_its_ci_run(monkeypatch):
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/vault-config")
    monkeypatch.setenv("GITHUB_RUN_ID", "123456")
    content = held_content("apply")
    assert describe_holder(content).startswith(
        f"{content['holder']} (pid {os.getpid()}, vaultform {__version__}, apply, "
        "https://github.com/acme/vault-config/actions/runs/123456) since ")
    monkeypatch.delenv("GITHUB_RUN_ID")
    assert "ci_run" not in held_content("apply")


# -- where the lock lives ------------------------------------------------------------------


def test_lock_mount_is_created_like_the_record_mount(tmp_path, unique, root, api, vf):
    mount = unique("vfrec")
    spec = tmp_path / "vault.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "vault": {"record": {"mount": mount}},
                                    "policies": {unique("pol"): POLICY}}), encoding="utf-8")
    applied = vf("apply", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied
    described = root.sys.read_mount_configuration(mount)["data"]
    table = root.sys.list_mounted_secrets_engines()["data"][f"{mount}/"]
    assert table["type"] == "kv" and table["options"] == {"version": "2"}, table
    assert table["description"] == "vaultform: record of managed objects (no secret values)", described
    state = read_lock(api, location("managed-objects", mount))
    assert not state.held and state.version == 2, state
    plan = vf("plan", str(spec), "--detailed-exitcode")
    assert plan.returncode == 0 and "-lock" not in plan.output, plan


def test_a_record_mount_that_is_not_kv_v2_is_refused(tmp_path, unique, root, vf):
    mount = unique("vfv1")
    root.sys.enable_secrets_engine("kv", path=mount, options={"version": "1"})
    spec = tmp_path / "vault.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "vault": {"record": {"mount": mount}},
                                    "policies": {unique("pol"): POLICY}}), encoding="utf-8")
    result = vf("apply", str(spec), "--auto-approve")
    assert_clean_failure(result)
    assert f"the record mount {mount}/ is not a KV v2 mount" in result.stderr, result
    assert "creating..." not in result.stdout, result


# -- a local cluster ---------------------------------------------------------------------


def test_local_cluster_is_locked_once_up_and_destroy_needs_no_release(tmp_path, unique, vf):
    port = free_port_run(2)
    spec = tmp_path / "vault.yaml"
    spec.write_text(yaml.safe_dump({
        "version": 1,
        "cluster": {"provider": "local", "nodes": 1, "listen": f"127.0.0.1:{port}", "data_dir": "data",
                    "init": {"key_shares": 1, "key_threshold": 1}},
        "policies": {unique("pol"): POLICY}}), encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    # No VAULT_ADDR/VAULT_TOKEN: the cluster's own address and the root token init stored.
    env = clean_env(home)
    own = {"VAULT_ADDR": None, "VAULT_TOKEN": None, "HOME": str(home)}
    try:
        # The Vault does not exist when apply starts; the lock is taken once
        # it is initialised and unsealed, before the first policy is written.
        applied = vf("apply", str(spec), "--auto-approve", env=own)
        assert applied.returncode == 0 and "Warning" not in applied.stderr, applied
        keys = json.loads((tmp_path / "data" / "cluster-keys.json").read_text())
        api = VaultAPI(f"http://127.0.0.1:{port}", token=keys["root_token"])
        state = read_lock(api, location("managed-objects"))
        assert not state.held and state.version == 2, state  # taken once, released once

        doc = yaml.safe_load(spec.read_text())
        doc["policies"][unique("pol")] = POLICY
        spec.write_text(yaml.safe_dump(doc), encoding="utf-8")
        with lock_holder(spec, env) as holder:
            refused = vf("apply", str(spec), "--auto-approve", env=own)
            assert_names_holder(refused, holder.pid)
            assert_no_secrets(refused.output, [keys["root_token"], *keys["unseal_keys_b64"]], "apply's output")

        # Destroy stops the cluster, and its lock with it: nothing to release, nothing to warn about.
        destroyed = vf("destroy", str(spec), "--auto-approve", env=own)
        assert destroyed.returncode == 0 and "Warning" not in destroyed.stderr, destroyed
    finally:
        kill_bao_under(tmp_path)
