"""The ownership record as a source of truth, against a real OpenBao dev server.

Every test names its own record path (`vault.record.path`), so tests sharing
the session's server never see each other's entries.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import hvac
import pytest
import yaml

from tests.support.cli import free_port_run
from tests.support.record import record_versions, recorded_objects, rewrite_entry, shard_docs
from vaultform.connection import VaultAPI
from vaultform.record import MAX_SHARD_BYTES, Record


class Workspace:
    def __init__(self, run_cli, tmp_path: Path, env: dict, root: hvac.Client, unique):
        self.run_cli, self.dir, self.env, self.root = run_cli, tmp_path, env, root
        self.record = unique("rec")
        self.kv = unique("kv")
        self.unique = unique

    def spec(self, policies=(), secrets=None, record=None, **extra) -> Path:
        doc = {"version": 1, "vault": {"record": {"path": record or self.record}},
               "secrets_engines": {self.kv: {"type": "kv", "options": {"version": "2"}}},
               "policies": {name: f'path "{self.kv}/data/{name}" {{ capabilities = ["read"] }}\n'
                            for name in policies},
               "secrets": {f"{self.kv}/{path}": data for path, data in (secrets or {}).items()}, **extra}
        path = self.dir / f"{record or self.record}.yaml"
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        return path

    def run(self, *args):
        return self.run_cli([str(a) for a in args], env=self.env)

    def apply(self, spec, *flags):
        result = self.run("apply", spec, "--auto-approve", *flags)
        assert result.exit_code == 0, str(result)
        return result

    def plan(self, spec, *flags):
        return self.run("plan", spec, "--detailed-exitcode", *flags)

    def recorded(self, record=None) -> dict:
        return recorded_objects(self.root, record or self.record)

    def kv_data(self, path, mount=None) -> dict:
        return self.root.secrets.kv.v2.read_secret_version(path, mount_point=mount or self.kv,
                                                           raise_on_deleted_version=True)["data"]["data"]

    def policy(self, name):
        try:
            return self.root.sys.read_policy(name)["data"]["rules"]
        except hvac.exceptions.InvalidPath:
            return None


@pytest.fixture
def ws(run_cli, tmp_path, vault_env, root, unique):
    return Workspace(run_cli, tmp_path, vault_env, root, unique)


def record_mount(api) -> dict:
    """The mount table as Record.save wants it, with the record mount in it."""
    if "vaultform/" not in api.read("sys/mounts")["data"]:
        try:
            api.write("sys/mounts/vaultform", {"type": "kv", "options": {"version": "2"}})
        except Exception:  # noqa: BLE001 - another test made it meanwhile
            pass
    return {"vaultform": {"type": "kv", "options": {"version": "2"}}}


# -- layout: shards, check-and-set, size -------------------------------------------


def test_record_is_sharded_and_an_apply_writes_only_the_shards_it_changed(ws, unique):
    names = [unique("p") for _ in range(40)]
    ws.apply(ws.spec(names))
    shards = dict(shard_docs(ws.root, ws.record))
    assert len(shards) > 10  # 41 objects spread over many shards, not one document
    assert set(ws.recorded()) == {f"policy.{n}" for n in names} | {f"secrets_engine.{ws.kv}"}
    before = record_versions(ws.root, ws.record)

    # One policy changed: one shard rewritten, the others untouched.
    spec = ws.spec(names)
    doc = yaml.safe_load(spec.read_text())
    doc["policies"][names[0]] += "# changed\n"
    spec.write_text(yaml.safe_dump(doc))
    ws.apply(spec)
    after = record_versions(ws.root, ws.record)
    moved = {s for s in after if after[s] != before.get(s)}
    assert len(moved) == 1, (before, after)


def test_an_apply_with_nothing_to_do_writes_nothing_at_all(ws, unique):
    spec = ws.spec([unique("p")], {"app": {"user": "u"}})
    ws.apply(spec)
    lock_meta = ws.root.read(f"vaultform/metadata/{ws.record}-lock")["data"]["current_version"]
    before = record_versions(ws.root, ws.record)
    result = ws.apply(spec)
    assert "No changes. Vault matches the spec." in result.stdout and "Apply will also" not in result.stdout
    assert record_versions(ws.root, ws.record) == before
    assert ws.root.read(f"vaultform/metadata/{ws.record}-lock")["data"]["current_version"] == lock_meta


def test_concurrent_saves_of_one_shard_keep_both_entries(bao):
    """Two runs that loaded the record before either saved: check-and-set makes
    the second re-read the shard and replay only its own change."""
    api = VaultAPI(bao.address, bao.root_token)
    location = {"mount": "vaultform", "path": "cas-" + hex(id(api))[-6:]}
    first, second = Record.load(api, location), Record.load(api, location)
    # Addresses that fall in the same shard.
    from vaultform.record import shard_of
    same = [a for a in (f"policy.p{i}" for i in range(2000)) if shard_of(a) == "00"][:2]
    first.set(same[0], {"kind": "policy", "id": same[0][7:]})
    second.set(same[1], {"kind": "policy", "id": same[1][7:]})
    mounts = record_mount(api)
    first.save(api, mounts)
    second.save(api, mounts)
    second.remove(same[1])
    second.save(api, mounts)
    assert set(Record.load(api, location).objects) == {same[0]}


def test_two_concurrent_applies_of_different_specs_keep_both_sets_of_entries(ws, unique, tmp_path):
    """Two teams, two specs, one Vault, one KV mount: both applies run at the
    same time (separate processes), each keeps its own record."""
    shared_kv = ws.kv
    ws.root.sys.enable_secrets_engine("kv", path=shared_kv, options={"version": "2"})
    specs = []
    for team in ("a", "b"):
        record = unique(f"team-{team}")
        doc = {"version": 1, "vault": {"record": {"path": record}},
               "policies": {unique(f"{team}p"): 'path "x" { capabilities = ["read"] }\n' for _ in range(60)},
               "secrets": {f"{shared_kv}/{team}/{i}": {"k": str(i)} for i in range(60)}}
        path = tmp_path / f"{team}.yaml"
        path.write_text(yaml.safe_dump(doc))
        specs.append((record, path, doc))
    env = {**{k: v for k, v in ws.env.items() if v is not None}, "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, "-m", "vaultform", "apply", str(path), "--auto-approve"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _, path, _ in specs]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    for record, path, doc in specs:
        expected = {f"policy.{n}" for n in doc["policies"]} | {f"secret.{k}" for k in doc["secrets"]}
        assert set(ws.recorded(record)) == expected
        result = ws.plan(path)
        assert result.exit_code == 0 and "Apply will also" not in result.stdout, str(result)


def test_a_record_of_100000_objects_saves_and_loads_on_raft_with_every_shard_far_below_its_limit(
        run_cli, workdir, tmp_path):
    # A one-node local cluster: raft storage, which refuses entries over 1 MiB.
    port = free_port_run(2)
    (workdir / "cluster.yaml").write_text(yaml.safe_dump({"version": 1, "cluster": {
        "provider": "local", "nodes": 1, "listen": f"127.0.0.1:{port}", "data_dir": str(workdir / "data"),
        "init": {"key_shares": 1, "key_threshold": 1, "keys_file": str(workdir / "data" / "keys.json")}}}))
    up = run_cli(["apply", str(workdir / "cluster.yaml"), "--auto-approve"], env={"HOME": str(tmp_path)})
    assert up.exit_code == 0, str(up)
    token = json.loads((workdir / "data" / "keys.json").read_text())["root_token"]
    api = VaultAPI(f"http://127.0.0.1:{port}", token)
    location = {"mount": "vaultform", "path": "big"}
    record = Record.load(api, location)
    for i in range(100_000):
        mount = f"team{i % 97}"
        record.set(f"secret.{mount}/app{i}/config", {
            "kind": "secret", "id": f"{mount}/app{i}/config",
            "meta": {"mount": mount, "path": f"app{i}/config", "version": "2", "kv_version_applied": 1,
                     "kv_created_time": "2026-12-02T00:00:00.123456789Z"},
            "fingerprints": {"password": "hmac-sha256:" + "ab" * 32}})
    written = record.save(api, record_mount(api))
    assert written == 256
    loaded = Record.load(api, location)
    assert len(loaded.objects) == 100_000
    shards, largest = loaded.size_report()
    assert shards == 256 and largest < MAX_SHARD_BYTES / 3, largest  # raft's max_entry_size is 1 MiB
    # One more entry rewrites one shard only.
    versions = {name: shard.version for name, shard in loaded._shards.items()}
    loaded.set("policy.one-more", {"kind": "policy", "id": "one-more"})
    assert loaded.save(api, record_mount(api)) == 1
    moved = [name for name, shard in loaded._shards.items() if shard.version != versions[name]]
    assert len(moved) == 1


# -- what the record learns, and when ---------------------------------------------------


def test_deleted_by_hand_then_recreated_by_hand_is_never_deleted(ws, unique):
    kept, gone_between, gone_silently = unique("keep"), unique("between"), unique("silent")
    secrets = {"between": {"k": "v"}, "silent": {"k": "v"}}
    full = ws.spec([kept, gone_between, gone_silently], secrets)
    ws.apply(full)

    # Deleted by hand, then removed from the spec: the next apply sees them
    # gone and drops their entries; it deletes nothing.
    ws.root.sys.delete_policy(gone_between)
    ws.root.secrets.kv.v2.delete_metadata_and_all_versions("between", mount_point=ws.kv)
    fewer = ws.spec([kept, gone_silently], {"silent": {"k": "v"}})
    result = ws.apply(fewer)
    assert "drop 2 entries" in result.stdout and "0 to destroy" in result.stdout or "No changes" in result.stdout, \
        str(result)
    assert f"policy.{gone_between}" not in ws.recorded()
    # Months later, someone makes objects at those paths by hand.
    ws.root.sys.create_or_update_policy(gone_between, 'path "other" { capabilities = ["list"] }')
    ws.root.secrets.kv.v2.create_or_update_secret("between", {"k": "v"}, mount_point=ws.kv)
    result = ws.plan(fewer)
    assert result.exit_code == 0, str(result)

    # Deleted and made again by hand with no vaultform run in between, then
    # removed from the spec: the record still lists them, but they are not
    # what vaultform applied, so they are left alone.
    ws.root.sys.delete_policy(gone_silently)
    ws.root.sys.create_or_update_policy(gone_silently, 'path "someone/else" { capabilities = ["read"] }')
    ws.root.secrets.kv.v2.delete_metadata_and_all_versions("silent", mount_point=ws.kv)
    ws.root.secrets.kv.v2.create_or_update_secret("silent", {"k": "v"}, mount_point=ws.kv)  # same value, even
    only_kept = ws.spec([kept])
    result = ws.apply(only_kept)
    assert f"policy.{gone_silently} was removed from the spec, but it was changed" in result.stderr + result.stdout
    assert f"secret.{ws.kv}/silent was removed from the spec, but it was changed" in result.stderr + result.stdout
    assert ws.policy(gone_between) and ws.policy(gone_silently)
    assert ws.kv_data("silent") == {"k": "v"}
    assert set(ws.recorded()) == {f"policy.{kept}", f"secrets_engine.{ws.kv}"}
    assert ws.plan(only_kept).exit_code == 0


def test_removed_from_the_spec_and_untouched_is_still_deleted(ws, unique):
    keep, drop = unique("keep"), unique("drop")
    ws.apply(ws.spec([keep, drop], {"a": {"k": "v"}, "b": {"k": "w"}}))
    result = ws.apply(ws.spec([keep], {"a": {"k": "v"}}))
    assert f"- policy.{drop}" in result.stdout and f"- secret.{ws.kv}/b" in result.stdout, str(result)
    assert ws.policy(drop) is None
    assert set(ws.recorded()) == {f"policy.{keep}", f"secret.{ws.kv}/a", f"secrets_engine.{ws.kv}"}


def test_target_records_only_its_targets_and_only_what_matches(ws, unique):
    a, b, c = unique("a"), unique("b"), unique("c")
    spec = ws.spec([a, b, c])
    ws.root.sys.enable_secrets_engine("kv", path=ws.kv, options={"version": "2"})
    # b exists exactly as the spec says, c exists but differs; neither is recorded.
    ws.root.sys.create_or_update_policy(b, f'path "{ws.kv}/data/{b}" {{ capabilities = ["read"] }}\n')
    ws.root.sys.create_or_update_policy(c, 'path "different" { capabilities = ["read"] }')
    ws.apply(spec, "--target", f"policy.{a}")
    assert set(ws.recorded()) == {f"policy.{a}"}
    # Without --target: b (identical) is adopted, c is updated, then both are recorded.
    result = ws.apply(spec)
    assert "record 2 object(s)" in result.stdout and f"~ policy.{c}" in result.stdout, str(result)
    assert set(ws.recorded()) == {f"policy.{n}" for n in (a, b, c)} | {f"secrets_engine.{ws.kv}"}


def test_a_format_1_record_is_read_and_moved_into_shards_by_the_first_apply(ws, unique):
    keep, drop = unique("keep"), unique("drop")
    ws.apply(ws.spec([keep, drop]))
    entries = ws.recorded()
    # Rewind to vaultform 0.1's layout: one document, no shards.
    ws.root.secrets.kv.v2.delete_metadata_and_all_versions(f"{ws.record}/", mount_point="vaultform")
    for name, _ in shard_docs(ws.root, ws.record):
        ws.root.secrets.kv.v2.delete_metadata_and_all_versions(f"{ws.record}/{name}", mount_point="vaultform")
    assert ws.recorded() == {}
    ws.root.secrets.kv.v2.create_or_update_secret(ws.record, {"format": 1, "objects": json.dumps(entries)},
                                                  mount_point="vaultform")
    plan = ws.plan(ws.spec([keep]))
    assert f"- policy.{drop}" in plan.stdout and "move the ownership record" in plan.stdout, str(plan)
    ws.apply(ws.spec([keep]))  # the old entry still drives the deletion
    assert ws.policy(drop) is None
    assert set(ws.recorded()) == {f"policy.{keep}", f"secrets_engine.{ws.kv}"}
    legacy = ws.kv_data(ws.record, "vaultform")
    assert legacy["format"] == 2 and legacy["objects"] == "{}"
    result = ws.plan(ws.spec([keep]))
    assert result.exit_code == 0 and "Apply will also" not in result.stdout, str(result)


# -- failures: independent changes go on -------------------------------------------------


def test_independent_changes_go_on_after_a_failure_and_dependents_are_skipped(ws, unique):
    good, bad = unique("good"), unique("bad")
    broken_kv = unique("broken")
    spec = ws.spec([good], {"app": {"k": "v"}})
    doc = yaml.safe_load(spec.read_text())
    # Valid specs that Vault refuses: no such plugins.
    doc["auth"] = {bad: {"type": "nosuchauth", "roles": {"r": {"token_ttl": 60}}}}
    doc["secrets_engines"][broken_kv] = {"type": "no-such-plugin-type"}
    spec.write_text(yaml.safe_dump(doc))
    result = ws.run("apply", spec, "--auto-approve")
    assert result.exit_code == 1, str(result)
    assert "2 changes failed; the first:" in result.stderr, str(result)
    assert f"Failed: auth_method.{bad}, secrets_engine.{broken_kv}." in result.stderr or \
        f"Failed: secrets_engine.{broken_kv}, auth_method.{bad}." in result.stderr, str(result)
    assert f"Skipped (depend on a failed change): nosuchauth_role.{bad}/r." in result.stderr, str(result)
    assert "Traceback" not in result.output
    # What did not depend on the failures was done, and recorded.
    assert ws.policy(good) is not None
    assert ws.kv_data("app") == {"k": "v"}
    assert {f"policy.{good}", f"secret.{ws.kv}/app"} <= set(ws.recorded())
    # Fixed, the next apply converges.
    del doc["secrets_engines"][broken_kv], doc["auth"]
    spec.write_text(yaml.safe_dump(doc))
    ws.apply(spec)
    assert ws.plan(spec).exit_code == 0
