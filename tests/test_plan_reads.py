"""A plan reads an object only when a listing does not already prove it
absent: an apply of many new objects makes one LIST per directory, not a
read per object, and what does exist is still read and compared."""

from __future__ import annotations

import json

import yaml

from vaultform.connection import VaultAPI


def test_new_objects_are_proven_absent_by_one_listing_and_existing_ones_are_read(
        run_cli, vault_env, root, unique, tmp_path, monkeypatch):
    kv, record = unique("lkv"), unique("lrec")
    policies = [unique("lp") for _ in range(6)]
    root.sys.enable_secrets_engine("kv", path=kv, options={"version": "2"})
    root.sys.create_or_update_policy(policies[0], 'path "old" { capabilities = ["read"] }\n')
    root.secrets.kv.v2.create_or_update_secret(path="app1/config", secret={"k": "old"}, mount_point=kv)
    spec = tmp_path / "vault.yaml"
    spec.write_text(yaml.safe_dump({
        "version": 1, "vault": {"record": {"path": record}},
        "secrets_engines": {kv: {"type": "kv", "options": {"version": "2"}}},
        "policies": {p: 'path "x" { capabilities = ["read"] }\n' for p in policies},
        "secrets": {f"{kv}/app{i}/config": {"k": "new"} for i in range(5)}}))

    reads = []
    read = VaultAPI.read

    def spy(api, path):
        reads.append(path)
        return read(api, path)

    monkeypatch.setattr(VaultAPI, "read", spy)
    result = run_cli(["plan", str(spec), "--format", "json"], env=vault_env)
    assert result.exit_code in (0, 2), str(result)
    object_reads = [p for p in reads if p.startswith(("sys/policies/acl/", f"{kv}/"))]
    # Only what exists is read: the one policy and the one secret made by hand.
    assert sorted(object_reads) == sorted([f"sys/policies/acl/{policies[0]}", f"{kv}/data/app1/config"])
    planned = {c["address"]: c["action"] for c in json.loads(result.stdout)["changes"]}
    assert planned[f"policy.{policies[0]}"] == "update" and planned[f"secret.{kv}/app1/config"] == "update"
    assert all(planned[f"policy.{p}"] == "create" for p in policies[1:])
    assert all(planned[f"secret.{kv}/app{i}/config"] == "create" for i in (0, 2, 3, 4))
    monkeypatch.setattr(VaultAPI, "read", read)
    applied = run_cli(["apply", str(spec), "--auto-approve"], env=vault_env)
    assert applied.exit_code == 0, str(applied)
    again = run_cli(["plan", str(spec), "--detailed-exitcode"], env=vault_env)
    assert again.exit_code == 0, str(again)
