"""identity: entities, aliases and groups, against a real OpenBao, proven by logging in.

A user logs in through userpass; the entity alias maps that login to the
spec's entity, the entity is in an internal group, and the token may do
what the group's policy allows and nothing else."""

from __future__ import annotations

import textwrap

import hvac
import pytest

from tests.support.record import recorded_objects


def _spec(path, body: str, record: str) -> str:
    path.write_text(f"version: 1\nvault: {{record: {{path: {record}}}}}\n" + textwrap.dedent(body), encoding="utf-8")
    return str(path)


@pytest.fixture
def userpass(root, unique):
    mount = unique("up")
    root.sys.enable_auth_method("userpass", path=mount)
    yield mount
    root.sys.disable_auth_method(mount)


def _login(bao, mount: str, user: str, password: str) -> hvac.Client:
    client = hvac.Client(url=bao.address)
    client.auth.userpass.login(username=user, password=password, mount_point=mount)
    return client


def test_group_policy_applies_to_a_login_mapped_to_an_entity(run_cli, vault_env, bao, root, tmp_path, unique,
                                                             userpass):
    alice, devs, dev_policy, kv = unique("alice"), unique("devs"), unique("dev"), unique("idkv")
    root.sys.enable_secrets_engine("kv", path=kv, options={"version": "2"})
    root.write(f"auth/{userpass}/users/{alice}", password="pw-alice-123")
    root.secrets.kv.v2.create_or_update_secret(path="team", secret={"k": "v"}, mount_point=kv)
    root.secrets.kv.v2.create_or_update_secret(path="other", secret={"k": "v"}, mount_point=kv)
    record = unique("rec")
    spec = _spec(tmp_path / "s.yaml", f"""
        policies:
          {dev_policy}: |
            path "{kv}/data/team" {{ capabilities = ["read"] }}
        identity:
          entities:
            {alice}: {{metadata: {{team: a}}, aliases: [{{mount: {userpass}, name: {alice}}}]}}
          groups:
            {devs}: {{type: internal, policies: [{dev_policy}], members: [{alice}]}}
        """, record)
    result = run_cli(["apply", spec, "--auto-approve"], env=vault_env)
    assert result.exit_code == 0, result
    assert f"identity_entity.{alice}" in result.stdout and f"identity_group.{devs}" in result.stdout
    again = run_cli(["plan", spec, "--detailed-exitcode"], env=vault_env)
    assert again.exit_code == 0, again

    client = _login(bao, userpass, alice, "pw-alice-123")
    lookup = client.auth.token.lookup_self()["data"]
    assert dev_policy in lookup["identity_policies"]
    assert client.secrets.kv.v2.read_secret_version(path="team", mount_point=kv, raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.read_secret_version(path="other", mount_point=kv, raise_on_deleted_version=True)

    # Taking alice out of the group takes the policy away from her next token.
    _spec(tmp_path / "s.yaml", f"""
        policies:
          {dev_policy}: |
            path "{kv}/data/team" {{ capabilities = ["read"] }}
        identity:
          entities:
            {alice}: {{metadata: {{team: b}}, aliases: [{{mount: {userpass}, name: {alice}}}]}}
          groups:
            {devs}: {{type: internal, policies: [{dev_policy}]}}
        """, record)
    plan = run_cli(["plan", spec], env=vault_env)
    assert f"~ identity_group.{devs}" in plan.stdout and "members" in plan.stdout
    assert f"~ identity_entity.{alice}" in plan.stdout and "metadata" in plan.stdout
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    assert run_cli(["plan", spec, "--detailed-exitcode"], env=vault_env).exit_code == 0
    client = _login(bao, userpass, alice, "pw-alice-123")
    assert dev_policy not in (client.auth.token.lookup_self()["data"].get("identity_policies") or [])
    assert root.read(f"identity/entity/name/{alice}")["data"]["metadata"] == {"team": "b"}
    root.sys.disable_secrets_engine(kv)


def test_lifecycle_ids_never_in_spec_or_plan_and_removal_deletes(run_cli, vault_env, root, tmp_path, unique,
                                                                 userpass):
    bob, ext, record = unique("bob"), unique("ext"), unique("rec")
    spec = _spec(tmp_path / "s.yaml", f"""
        identity:
          entities:
            {bob}: {{policies: [b, a], disabled: true, aliases: [{{mount: {userpass}, name: {bob}}}]}}
          groups:
            {ext}: {{type: external, policies: [admin], alias: {{mount: {userpass}, name: admins}}}}
        """, record)
    first = run_cli(["apply", spec, "--auto-approve"], env=vault_env)
    assert first.exit_code == 0, first
    entity = root.read(f"identity/entity/name/{bob}")["data"]
    assert entity["disabled"] is True and sorted(entity["policies"]) == ["a", "b"]
    assert entity["id"] not in first.stdout  # IDs are Vault's business, never the plan's
    group = root.read(f"identity/group/name/{ext}")["data"]
    assert group["type"] == "external" and group["alias"]["name"] == "admins"
    assert run_cli(["plan", spec, "--detailed-exitcode"], env=vault_env).exit_code == 0
    assert {f"identity_entity.{bob}", f"identity_group.{ext}"} <= set(recorded_objects(root, record))

    # An alias moved by hand is drift, put back by the next apply.
    alias_id = entity["aliases"][0]["id"]
    root.delete(f"identity/entity-alias/id/{alias_id}")
    drift = run_cli(["plan", spec], env=vault_env)
    assert "aliases" in drift.stdout, drift
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    assert run_cli(["plan", spec, "--detailed-exitcode"], env=vault_env).exit_code == 0

    # Changing a group's type re-creates it (Vault refuses the change in place).
    _spec(tmp_path / "s.yaml", f"""
        identity:
          entities:
            {bob}: {{policies: [b, a], disabled: true, aliases: [{{mount: {userpass}, name: {bob}}}]}}
          groups:
            {ext}: {{type: internal, policies: [admin], members: [{bob}]}}
        """, record)
    replace = run_cli(["plan", spec], env=vault_env)
    assert f"-/+ identity_group.{ext}" in replace.stdout, replace
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    assert root.read(f"identity/group/name/{ext}")["data"]["member_entity_ids"] == [entity["id"]]

    # Removed from the spec: deleted (they are recorded as vaultform's).
    _spec(tmp_path / "s.yaml", "", record)
    gone = run_cli(["apply", spec, "--auto-approve"], env=vault_env)
    assert gone.exit_code == 0, gone
    assert root.read(f"identity/entity/name/{bob}") is None
    assert root.read(f"identity/group/name/{ext}") is None


def test_an_entity_made_again_by_hand_is_not_deleted(run_cli, vault_env, root, tmp_path, unique):
    carol, record = unique("carol"), unique("rec")
    spec = _spec(tmp_path / "s.yaml", f"identity: {{entities: {{{carol}: {{policies: [p]}}}}}}\n", record)
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    root.delete(f"identity/entity/name/{carol}")
    root.write(f"identity/entity/name/{carol}", policies=["p"])  # same name and fields, new ID: someone else's
    _spec(tmp_path / "s.yaml", "", record)
    result = run_cli(["apply", spec, "--auto-approve"], env=vault_env)
    assert result.exit_code == 0, result
    assert root.read(f"identity/entity/name/{carol}") is not None


def test_bad_identity_is_a_located_error_and_nothing_is_written(run_cli, vault_env, root, tmp_path, unique):
    name, record = unique("g"), unique("rec")
    spec = _spec(tmp_path / "s.yaml", f"""
        identity:
          groups:
            {name}: {{type: external, members: [someone]}}
        """, record)
    result = run_cli(["plan", spec], env=vault_env)
    assert result.exit_code == 1
    assert "s.yaml:6:" in result.stderr and ".members: an external group" in result.stderr and "Traceback" not in result.stderr
    assert root.read(f"identity/group/name/{name}") is None


def test_a_group_cycle_is_refused_offline(run_cli, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("version: 1\nidentity:\n  groups:\n    a: {member_groups: [b]}\n    b: {member_groups: [a]}\n",
                    encoding="utf-8")
    result = run_cli(["validate", str(spec)])
    assert result.exit_code == 1
    assert "s.yaml:4:5: identity.groups.a: is its own member" in result.stderr
    assert "s.yaml:5:5: identity.groups.b: is its own member" in result.stderr
