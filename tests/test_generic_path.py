"""paths: the escape hatch for any other API path, against a real OpenBao."""

from __future__ import annotations

import textwrap

import pytest


def _spec(path, body: str, record: str) -> str:
    path.write_text(f"version: 1\nvault: {{record: {{path: {record}}}}}\n" + textwrap.dedent(body), encoding="utf-8")
    return str(path)


@pytest.fixture
def cors_off(root):
    yield
    root.adapter.delete("/v1/sys/config/cors")


def test_cors_lifecycle_declared_keys_only(run_cli, vault_env, root, tmp_path, unique, cors_off):
    record = unique("rec")
    spec = _spec(tmp_path / "s.yaml", """
        paths:
          sys/config/cors: {data: {enabled: true, allowed_origins: [https://ui.example.com]}}
        """, record)
    plan = run_cli(["plan", spec], env=vault_env)
    assert "~ path.sys/config/cors" in plan.stdout, plan  # cors always exists: its fields change
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    cors = root.read("sys/config/cors")["data"]
    assert cors["enabled"] is True and cors["allowed_origins"] == ["https://ui.example.com"]
    # Vault also answers allowed_headers, which the spec does not declare: not drift.
    assert "allowed_headers" in cors
    assert run_cli(["plan", spec, "--detailed-exitcode"], env=vault_env).exit_code == 0

    root.write("sys/config/cors", enabled=True, allowed_origins=["https://evil.example.com"])
    drift = run_cli(["plan", spec], env=vault_env)
    assert "allowed_origins" in drift.stdout and "evil" in drift.stdout, drift
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    assert root.read("sys/config/cors")["data"]["allowed_origins"] == ["https://ui.example.com"]

    # Removed from the spec with delete (the default): DELETE resets CORS.
    _spec(tmp_path / "s.yaml", "", record)
    gone = run_cli(["apply", spec, "--auto-approve"], env=vault_env)
    assert gone.exit_code == 0 and "- path.sys/config/cors" in gone.stdout, gone
    assert root.read("sys/config/cors")["data"]["enabled"] is False


def test_delete_false_only_forgets(run_cli, vault_env, root, tmp_path, unique, cors_off):
    record = unique("rec")
    spec = _spec(tmp_path / "s.yaml", """
        paths:
          sys/config/cors: {data: {enabled: true, allowed_origins: ["*"]}, delete: false}
        """, record)
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    _spec(tmp_path / "s.yaml", "", record)
    plan = run_cli(["plan", spec], env=vault_env)
    assert "delete: false" in plan.stdout and "stays in Vault" in plan.stdout, plan
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    assert root.read("sys/config/cors")["data"]["enabled"] is True
    assert run_cli(["plan", spec, "--detailed-exitcode"], env=vault_env).exit_code == 0


def test_write_only_and_sourced_values_are_fingerprinted_never_printed(run_cli, vault_env, root, tmp_path, unique):
    mount, record = unique("gp"), unique("rec")
    root.sys.enable_secrets_engine("kv", path=mount, options={"version": "1"})
    secret, other = "s3cr3t-'\"\n-ünï", "another-v4lue-9"
    spec = _spec(tmp_path / "s.yaml", f"""
        paths:
          {mount}/app: {{data: {{user: app, password: {{env: GP_PW}}, token: {{env: GP_TOKEN}}}}, write_only: [password]}}
        """, record)
    env = {**vault_env, "GP_PW": secret, "GP_TOKEN": other}
    first = run_cli(["apply", spec, "--auto-approve"], env=env)
    assert first.exit_code == 0, first
    assert root.read(f"{mount}/app")["data"] == {"user": "app", "password": secret, "token": other}
    assert run_cli(["plan", spec, "--detailed-exitcode"], env=env).exit_code == 0
    changed = run_cli(["plan", spec], env={**env, "GP_PW": "changed-pw-77"})
    assert "~ path." in changed.stdout and "password" in changed.stdout, changed
    outputs = first.output + changed.output
    for value in (secret, other, "changed-pw-77"):
        assert value not in outputs
    root.sys.disable_secrets_engine(mount)


def test_a_path_that_cannot_be_read_back_says_so_and_converges(run_cli, vault_env, root, tmp_path, unique):
    mount, record = unique("tr"), unique("rec")
    root.sys.enable_secrets_engine("transit", path=mount)
    root.write(f"{mount}/keys/app", type="aes256-gcm96")
    spec = _spec(tmp_path / "s.yaml", f"""
        paths:
          {mount}/keys/app/config: {{data: {{deletion_allowed: true}}, delete: false}}
        """, record)
    plan = run_cli(["plan", spec], env=vault_env)
    assert plan.exit_code == 0, plan
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    assert root.read(f"{mount}/keys/app")["data"]["deletion_allowed"] is True
    again = run_cli(["plan", spec, "--detailed-exitcode"], env=vault_env)
    assert again.exit_code == 0, again
    _spec(tmp_path / "s.yaml", f"""
        paths:
          {mount}/keys/app/config: {{data: {{deletion_allowed: false}}, delete: false}}
        """, record)
    changed = run_cli(["plan", spec], env=vault_env)
    assert "cannot compare" in changed.stdout, changed
    root.sys.disable_secrets_engine(mount)


@pytest.mark.parametrize("path, message", [
    ("sys/policies/acl/x", "is managed by the `policies:` section"),
    ("sys/raw/core/x", "is an operation"),
    ("vaultform/data/x", "ownership record"),
    ("kv/../sys/policies/acl/x", "has a '..' part"),
])
def test_paths_that_are_not_for_paths_are_refused_offline(run_cli, tmp_path, path, message):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"version: 1\npaths:\n  {path}: {{data: {{a: 1}}}}\n", encoding="utf-8")
    result = run_cli(["validate", str(spec)])
    assert result.exit_code == 1 and message in result.stderr and "s.yaml:3:" in result.stderr, result
