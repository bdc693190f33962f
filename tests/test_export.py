"""vaultform export: a Vault built by hand becomes a spec that plans empty.

The round trip is judged by the audit log: applying the exported spec
writes nothing to Vault but vaultform's own ownership record."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from tests.support.audit import AuditLog, file_audit_hcl
from tests.support.bao import BaoDevServer
from tests.support.kube import FakeKubernetesAPI  # noqa: F401  (the CA below is any PEM)

RECORD_MOUNT = "vaultform"
PEM = (Path(__file__).resolve().parent.parent / "examples" / "kubernetes-ca.crt").read_text()


@pytest.fixture
def audited(tmp_path):
    log = tmp_path / "audit.log"
    with BaoDevServer(config_hcl=file_audit_hcl(str(log), "export")) as server:
        yield server, AuditLog(str(log))


def _env(server, home: Path) -> dict:
    return {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(home),
            "VAULT_NAMESPACE": None, "BAO_TOKEN": None, "BAO_ADDR": None}


def build_rich_vault(c) -> dict:
    """Everything by raw API calls, as a team would have done it by hand."""
    secrets = {"db": "p@ss 'w\"ord\nwith a newline-ü", "api": "k-1234567890"}
    c.sys.enable_secrets_engine("kv", path="apps", options={"version": "2"}, description="team apps",
                                config={"default_lease_ttl": "1h", "max_lease_ttl": "24h"})
    c.write_data("apps/config", data={"max_versions": 5})
    c.secrets.kv.v2.create_or_update_secret(path="payments/db", secret={"password": secrets["db"], "user": "pay"},
                                            mount_point="apps")
    c.sys.enable_secrets_engine("kv", path="legacy", options={"version": "1"})
    c.write("legacy/ci/token", value=secrets["api"])
    c.sys.enable_secrets_engine("transit", path="transit")
    c.write("transit/keys/app", type="aes256-gcm96")
    c.sys.create_or_update_policy("reader", 'path "apps/data/*" {\n  capabilities = ["read"]\n}\n')
    c.sys.create_or_update_policy("ci", 'path "legacy/*" { capabilities = ["read", "list"] }')
    c.sys.enable_auth_method("approle", path="approle")
    c.write("auth/approle/role/ci", token_policies=["ci"], token_ttl="20m", secret_id_ttl="24h")
    c.sys.enable_auth_method("userpass", path="people", description="humans")
    c.write("auth/people/users/alice", password="alice-password-1", token_policies=["reader"])
    c.sys.enable_auth_method("kubernetes", path="k8s")
    c.write("auth/k8s/config", kubernetes_host="https://10.0.0.1:6443", kubernetes_ca_cert=PEM)
    c.write("auth/k8s/role/web", bound_service_account_names=["web"], bound_service_account_namespaces=["prod"],
            token_policies=["reader"], token_ttl=3600)
    c.write("auth/token/roles/nomad", allowed_policies=["ci"], orphan=True)
    c.write("identity/entity/name/alice", policies=["reader"], metadata={"team": "payments"})
    accessor = c.sys.list_auth_methods()["data"]["people/"]["accessor"]
    entity = c.read("identity/entity/name/alice")["data"]["id"]
    c.write("identity/entity-alias", name="alice", canonical_id=entity, mount_accessor=accessor)
    c.write("identity/group/name/devs", policies=["reader"], member_entity_ids=[entity])
    return secrets


def test_export_round_trip_plans_empty_and_applies_without_a_write(run_cli, tmp_path, audited):
    server, audit = audited
    secrets = build_rich_vault(server.client())
    home = tmp_path / "home"
    home.mkdir()
    env = _env(server, home)
    spec, values = tmp_path / "exported.yaml", tmp_path / "values"

    result = run_cli(["export", "--output", str(spec), "--secret-values-to", str(values)], env=env)
    assert result.exit_code == 0, result
    text = spec.read_text()
    for secret in list(secrets.values()) + ["alice-password-1", server.root_token]:
        assert secret not in text and secret not in result.output
    doc = yaml.safe_load(text)
    assert set(doc["secrets_engines"]) == {"apps", "legacy", "transit", "secret"}  # dev mode's secret/ too
    assert doc["secrets_engines"]["apps"]["config"] == {"default_lease_ttl": "1h", "max_lease_ttl": "24h"}
    assert doc["auth"]["approle"]["roles"]["ci"]["token_ttl"] == "20m"
    assert "# password: {env: " in text and "write-only" in text  # Vault never returns it
    assert doc["identity"]["entities"]["alice"]["aliases"] == [{"mount": "people", "name": "alice"}]
    assert doc["identity"]["groups"]["devs"]["members"] == ["alice"]
    assert doc["token_roles"]["nomad"]["orphan"] is True
    assert "token" not in doc["auth"] and "sys" not in doc["secrets_engines"]
    assert set(doc["policies"]) == {"reader", "ci"}
    stored = values / "apps" / "payments" / "db" / "password"
    assert stored.read_text() == secrets["db"] and stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(values.stat().st_mode) == 0o700

    validated = run_cli(["validate", str(spec)], env=env)
    assert validated.exit_code == 0 and "Warning" not in validated.output, validated
    planned = run_cli(["plan", str(spec), "--detailed-exitcode"], env=env)
    assert planned.exit_code == 0 and "No changes" in planned.stdout, planned

    mark = audit.mark()
    applied = run_cli(["apply", str(spec), "--auto-approve"], env=env)
    assert applied.exit_code == 0, applied
    writes = [w for w in audit.writes_since(mark)
              if not (w.path.startswith(f"{RECORD_MOUNT}/") or w.path == f"sys/mounts/{RECORD_MOUNT}")]
    assert writes == [], f"apply of an exported spec wrote to Vault: {writes}"

    # Exporting the unchanged Vault again gives the same bytes (the record mount is vaultform's own).
    again = tmp_path / "again.yaml"
    assert run_cli(["export", "--output", str(again), "--secret-values-to", str(values)], env=env).exit_code == 0
    assert again.read_text() == text


def test_secret_placeholders_without_a_values_directory(run_cli, tmp_path, audited):
    server, _ = audited
    build_rich_vault(server.client())
    home = tmp_path / "home"
    home.mkdir()
    result = run_cli(["export", "--include", "secrets", "--include", "policy"], env=_env(server, home))
    assert result.exit_code == 0, result
    doc = yaml.safe_load(result.stdout)
    assert set(doc) == {"version", "secrets", "policies"}
    assert doc["secrets"]["legacy/ci/token"] == {"value": {"env": "VF_LEGACY_CI_TOKEN_VALUE"}}
    assert "Set these variables before plan/apply: " in result.stdout


def test_a_values_directory_others_can_read_is_refused(run_cli, tmp_path, audited):
    server, _ = audited
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o755)
    home = tmp_path / "home"
    home.mkdir()
    result = run_cli(["export", "--secret-values-to", str(open_dir)], env=_env(server, home))
    assert result.exit_code == 1 and "others may read" in result.stderr and "Traceback" not in result.output
    assert list(open_dir.iterdir()) == []


def test_unknown_include_is_a_one_line_error(run_cli, tmp_path, audited):
    server, _ = audited
    home = tmp_path / "home"
    home.mkdir()
    result = run_cli(["export", "--include", "bogus"], env=_env(server, home))
    assert result.exit_code == 1 and "--include bogus" in result.stderr and len(result.stderr.splitlines()) == 1
