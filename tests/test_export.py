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
from tests.support.http_sink import http_sink
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


def build_namespaces(server) -> dict:
    """Two namespaces by raw API calls: one holding a bit of everything, one empty."""
    import hvac

    root = server.client()
    root.write("sys/namespaces/team-a", custom_metadata={"owner": "payments"})
    root.write("sys/namespaces/empty")
    c = hvac.Client(url=server.address, token=server.root_token, namespace="team-a")
    secrets = {"ns-db": "team-a's db password"}
    c.sys.enable_secrets_engine("kv", path="kv", options={"version": "2"}, description="team a")
    c.secrets.kv.v2.create_or_update_secret(path="app/db", secret={"password": secrets["ns-db"]}, mount_point="kv")
    # The same names as the root's objects: nothing of the root may leak in.
    c.sys.enable_secrets_engine("kv", path="legacy", options={"version": "1"})
    c.write("legacy/ci/token", value="team-a-ci-token")
    secrets["ns-ci"] = "team-a-ci-token"
    c.sys.create_or_update_policy("reader", 'path "kv/data/*" {\n  capabilities = ["read"]\n}\n')
    c.sys.enable_auth_method("userpass", path="people")
    c.write("auth/people/users/bob", password="bob-password-1", token_policies=["reader"])
    c.sys.enable_auth_method("approle", path="approle")
    c.write("auth/approle/role/deploy", token_policies=["reader"], token_ttl="30m")
    c.write("identity/entity/name/bob", policies=["reader"])
    accessor = c.sys.list_auth_methods()["data"]["people/"]["accessor"]
    entity = c.read("identity/entity/name/bob")["data"]["id"]
    c.write("identity/entity-alias", name="bob", canonical_id=entity, mount_accessor=accessor)
    c.write("identity/group/name/team", policies=["reader"], member_entity_ids=[entity])
    c.write("auth/token/roles/ci", allowed_policies=["reader"], orphan=True)  # team-a's own token store
    # A namespace inside it, holding a policy of the same name as its parent's.
    c.write("sys/namespaces/batch", custom_metadata={"tier": "2"})
    hvac.Client(url=server.address, token=server.root_token, namespace="team-a/batch").sys.create_or_update_policy(
        "reader", 'path "jobs/*" {\n  capabilities = ["read"]\n}\n')
    return secrets


def test_export_round_trip_plans_empty_and_applies_without_a_write(run_cli, tmp_path, audited):
    server, audit = audited
    secrets = build_rich_vault(server.client())
    secrets.update(build_namespaces(server))
    home = tmp_path / "home"
    home.mkdir()
    env = _env(server, home)
    spec, values = tmp_path / "exported.yaml", tmp_path / "values"

    result = run_cli(["export", "--output", str(spec), "--secret-values-to", str(values)], env=env)
    assert result.exit_code == 0, result
    text = spec.read_text()
    for secret in list(secrets.values()) + ["alice-password-1", "bob-password-1", server.root_token]:
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

    # Namespaces, with what each holds, read inside them.
    assert set(doc["namespaces"]) == {"team-a", "empty"}
    assert doc["namespaces"]["empty"] == {}
    team = doc["namespaces"]["team-a"]
    assert team["custom_metadata"] == {"owner": "payments"}
    assert set(team["secrets_engines"]) == {"kv", "legacy"} and team["secrets_engines"]["kv"]["description"] == "team a"
    assert set(team["policies"]) == {"reader"}
    assert team["auth"]["approle"]["roles"]["deploy"]["token_ttl"] == "30m"
    assert set(team["auth"]["people"]["users"]) == {"bob"}
    assert team["identity"]["entities"]["bob"]["aliases"] == [{"mount": "people", "name": "bob"}]
    assert team["identity"]["groups"]["team"]["members"] == ["bob"]
    assert set(team["secrets"]) == {"kv/app/db", "legacy/ci/token"}
    assert set(team["token_roles"]) == {"ci"}
    assert team["namespaces"] == {"batch": {"custom_metadata": {"tier": "2"}, "policies": {
        "reader": 'path "jobs/*" {\n  capabilities = ["read"]\n}\n'}}}
    ns_file = values / "@namespaces" / "team-a" / "kv" / "app" / "db" / "password"
    assert ns_file.read_text() == secrets["ns-db"] and stat.S_IMODE(ns_file.stat().st_mode) == 0o600
    assert team["secrets"]["kv/app/db"]["password"] == {"file": os.path.relpath(ns_file, tmp_path)}
    # Its write-only placeholder is its own variable, not the root's.
    assert "# password: {env: VF_TEAM_A_AUTH_PEOPLE_BOB_PASSWORD}" in text, text

    # Audit devices: the server's file device, as sys/audit reports it.
    assert doc["audit"] == {"export": {"type": "file", "options": {"file_path": audit.path}}}

    validated = run_cli(["validate", str(spec)], env=env)
    assert validated.exit_code == 0 and "Warning" not in validated.output, validated
    planned = run_cli(["plan", str(spec), "--detailed-exitcode"], env=env)
    assert planned.exit_code == 0 and "No changes" in planned.stdout, planned
    # OpenBao takes audit devices only from its configuration: the plan says it is there.
    assert "audit_device.export: must be set in the server's configuration" in planned.output, planned
    assert "present, as the spec says" in planned.output, planned

    mark = audit.mark()
    applied = run_cli(["apply", str(spec), "--auto-approve"], env=env)
    assert applied.exit_code == 0, applied
    # Bookkeeping is the root's record only: the same path inside a namespace would be a write.
    writes = [(r["operation"], r["path"], (r.get("namespace") or {}).get("path", ""))
              for r in audit.requests_since(mark) if r.get("operation") in ("create", "update", "delete")]
    writes = [w for w in writes if not (w[2] == "" and (w[1].startswith(f"{RECORD_MOUNT}/") or
                                                        w[1] == f"sys/mounts/{RECORD_MOUNT}"))]
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


def test_no_address_is_a_one_line_error_naming_no_file(run_cli, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {"VAULT_ADDR": None, "BAO_ADDR": None, "VAULT_TOKEN": None, "BAO_TOKEN": None, "HOME": str(home)}
    result = run_cli(["export"], env=env)
    # There is no spec file to name: export writes to stdout, and none was read.
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == "Error: no Vault address: pass --address, or set VAULT_ADDR (or BAO_ADDR)\n"


def test_include_namespace_and_audit_device_like_the_other_kinds(run_cli, tmp_path, audited):
    server, _ = audited
    build_namespaces(server)
    home = tmp_path / "home"
    home.mkdir()
    env = _env(server, home)
    only = run_cli(["export", "--include", "namespace"], env=env)
    assert only.exit_code == 0, only
    doc = yaml.safe_load(only.stdout)
    assert set(doc) == {"version", "namespaces"}
    assert set(doc["namespaces"]["team-a"]) == {"custom_metadata", "secrets_engines", "auth", "policies", "secrets",
                                                "identity", "token_roles", "namespaces"}
    # With other sections asked for, a namespace holds only those.
    some = yaml.safe_load(run_cli(["export", "--include", "namespaces", "--include", "policy"], env=env).stdout)
    # (Its child namespaces go with it, holding only those too.)
    assert set(some) == {"version", "namespaces"} and set(some["namespaces"]["team-a"]) == {"custom_metadata",
                                                                                             "policies", "namespaces"}
    assert set(some["namespaces"]["team-a"]["namespaces"]["batch"]) == {"custom_metadata", "policies"}
    devices = yaml.safe_load(run_cli(["export", "--include", "audit_device"], env=env).stdout)
    assert set(devices) == {"version", "audit"} and set(devices["audit"]) == {"export"}


def test_audit_options_that_carry_credentials_are_never_written(run_cli, tmp_path):
    """An http audit device's headers come back from sys/audit in clear
    (measured on OpenBao 2.7.2): export leaves them out, with a note."""
    with http_sink() as sink_url:
        token = "audit-bearer-" + os.urandom(8).hex()
        hcl = (file_audit_hcl(str(tmp_path / "audit.log"), "file") +
               'audit "http" "web" {\n  options {\n'
               f'    uri = "{sink_url}"\n'
               f'    headers = {json.dumps(json.dumps({"Authorization": ["Bearer " + token]}))}\n'
               '  }\n}\n')
        with BaoDevServer(config_hcl=hcl) as server:
            listed = server.client().sys.list_enabled_audit_devices()["data"]["web/"]["options"]
            assert token in listed["headers"]  # what makes this test necessary
            home = tmp_path / "home"
            home.mkdir()
            result = run_cli(["export", "--include", "audit"], env=_env(server, home))
            assert result.exit_code == 0, result
            assert token not in result.output
            doc = yaml.safe_load(result.stdout)
            assert doc["audit"]["web"] == {"type": "http",
                                           "options": {"uri": sink_url}}
            assert "audit_device.web: its option headers may hold a credential and is not exported" in result.stdout
