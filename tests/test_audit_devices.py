"""audit: devices, against real OpenBao 2.x in its three situations:

- the spec's own local cluster: rendered into the node's server config and
  reloaded (OpenBao refuses sys/audit over the API); the device's log is read;
- an external server that refuses API audit devices: the plan says they must
  be configured there, and whether they are present;
- a server configured with unsafe_allow_api_audit_creation: PUT/DELETE sys/audit.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path

import pytest
import requests

from tests.support.audit import AuditLog, file_audit_hcl
from tests.support.bao import BaoDevServer
from tests.support.cli import Transcript, assert_clean_failure, clean_env, free_port_run


def local_spec(port: int, audit: str) -> str:
    return textwrap.dedent(f"""\
        version: 1
        cluster:
          provider: local
          nodes: 1
          listen: 127.0.0.1:{port}
          data_dir: data
          init: {{key_shares: 1, key_threshold: 1, keys_file: data/keys.json}}
        policies:
          app: |
            path "secret/*" {{ capabilities = ["read"] }}
        """) + textwrap.dedent(audit)


def sys_audit(address: str, token: str) -> dict:
    response = requests.get(f"{address}/v1/sys/audit", headers={"X-Vault-Token": token}, timeout=5)
    assert response.status_code == 200, response.text
    return {path.rstrip("/"): entry for path, entry in response.json()["data"].items()}


@pytest.mark.slow
def test_local_cluster_renders_devices_into_config_and_reloads(workdir, tmp_path):
    port = free_port_run(2)
    spec = workdir / "spec.yaml"
    spec.write_text(local_spec(port, """\
        audit:
          main: {type: file, description: all requests, options: {file_path: logs/audit.log, hmac_accessor: false}}
        """))
    (workdir / "logs").mkdir()
    env = clean_env(tmp_path / "home")
    t = Transcript()

    plan = t.run("plan", "spec.yaml", env=env, cwd=workdir)
    assert plan.returncode == 0, plan
    assert "+ audit_device.main" in plan.stdout, plan
    applied = t.run("apply", "spec.yaml", "--auto-approve", env=env, cwd=workdir)
    assert applied.returncode == 0, applied.output

    address, token = f"http://127.0.0.1:{port}", json.loads((workdir / "data" / "keys.json").read_text())["root_token"]
    log = workdir / "logs" / "audit.log"
    # The path is relative to the spec file; the server got it absolute, from its config.
    assert sys_audit(address, token)["main"] == {
        "type": "file", "description": "all requests", "local": False, "path": "main/",
        "options": {"file_path": str(log.resolve()), "hmac_accessor": "false"}}
    config = (workdir / "data" / "node0" / "config.hcl").read_text()
    assert 'audit "file" "main"' in config, config

    # The device logs what follows: a request of ours is in its file.
    audit_log = AuditLog(str(log))
    mark = audit_log.mark()
    requests.put(f"{address}/v1/sys/policies/acl/audited-probe", headers={"X-Vault-Token": token},
                 json={"policy": 'path "x" { capabilities = ["read"] }'}, timeout=5).raise_for_status()
    assert any(w.path == "sys/policies/acl/audited-probe" for w in audit_log.writes_since(mark)), log.read_text()[-2000:]
    # hmac_accessor: false reached the device: accessors appear in clear.
    assert '"accessor":"hmac-sha256:' not in log.read_text().split("\n")[-2]

    again = t.run("plan", "spec.yaml", "--detailed-exitcode", env=env, cwd=workdir)
    assert again.returncode == 0, again

    # A changed device cannot be modified in OpenBao: removed, then added again.
    spec.write_text(spec.read_text().replace("all requests", "every request"))
    replace = t.run("apply", "spec.yaml", "--auto-approve", env=env, cwd=workdir)
    assert replace.returncode == 0 and "-/+ audit_device.main" in replace.stdout, replace
    assert sys_audit(address, token)["main"]["description"] == "every request"
    assert t.run("plan", "spec.yaml", "--detailed-exitcode", env=env, cwd=workdir).returncode == 0

    # A restart renders the same devices: the node unseals (a device in the
    # config that differs from OpenBao's table would make unseal fail).
    pid = int((workdir / "data" / "node0" / "bao.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    restarted = t.run("apply", "spec.yaml", "--auto-approve", env=env, cwd=workdir)
    assert restarted.returncode == 0, restarted
    assert "main" in sys_audit(address, token)

    # A device OpenBao refuses (it says why only in its log): a clean error
    # with its reason, and the configuration back as it was, so that a
    # restarted node still unseals.
    good = spec.read_text()
    spec.write_text(good + "  bad: {type: file, options: {file_path: logs/bad.log, format: xml}}\n")
    refused = t.run("apply", "spec.yaml", "--auto-approve", env=env, cwd=workdir)
    assert_clean_failure(refused)
    assert 'unknown format type \\"xml\\"' in refused.stderr or 'unknown format type' in refused.stderr, refused
    assert "configuration is back as it was" in refused.stderr, refused
    assert '"bad"' not in (workdir / "data" / "node0" / "config.hcl").read_text()
    assert set(sys_audit(address, token)) == {"main"}
    spec.write_text(good)

    # Removed from the spec: disabled on reload; its log stays.
    spec.write_text(local_spec(port, ""))
    removed = t.run("apply", "spec.yaml", "--auto-approve", env=env, cwd=workdir)
    assert removed.returncode == 0 and "- audit_device.main" in removed.stdout, removed
    assert "main" not in sys_audit(address, token)
    assert 'audit "file"' not in (workdir / "data" / "node0" / "config.hcl").read_text()
    assert log.exists()
    assert t.run("plan", "spec.yaml", "--detailed-exitcode", env=env, cwd=workdir).returncode == 0


def external_spec(path: Path, audit: str) -> str:
    path.write_text("version: 1\n" + textwrap.dedent(audit), encoding="utf-8")
    return str(path)


def test_external_openbao_plan_says_configure_it_there(tmp_path, run_cli):
    log = tmp_path / "audit.log"
    with BaoDevServer(config_hcl=file_audit_hcl(str(log), "file")) as server:
        env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(tmp_path),
               "BAO_ADDR": None, "BAO_TOKEN": None}
        mark = AuditLog(str(log)).mark()
        spec = external_spec(tmp_path / "s.yaml", """\
            audit:
              file: {type: file, options: {file_path: audit.log}}
              other: {type: file, options: {file_path: other.log}}
            """)
        plan = run_cli(["plan", spec, "--detailed-exitcode"], env=env)
        assert plan.exit_code == 0, plan  # nothing vaultform can change
        out = plan.output
        assert "audit_device.file: must be set in the server's configuration" in out, plan
        assert "present, as the spec says" in out, plan
        assert "audit_device.other: must be set in the server's configuration" in out
        assert "NOT present" in out and 'audit "file" "other"' in out and str(tmp_path / "other.log") in out, plan
        # Finding out wrote nothing.
        assert AuditLog(str(log)).writes_since(mark) == []

        # A token that may read sys/audit but not the server's configuration:
        # the version (OpenBao 2.3+) decides, and the plan says so.
        client = server.client()
        client.sys.create_or_update_policy("audit-reader", 'path "sys/audit" { capabilities = ["read", "sudo"] }\n'
                                           'path "vaultform/*" { capabilities = ["read", "list"] }')
        reader = client.auth.token.create(policies=["audit-reader"], ttl="10m")["auth"]["client_token"]
        limited = run_cli(["plan", spec], env={**env, "VAULT_TOKEN": reader})
        assert "judged by version" in limited.output and "present, as the spec says" in limited.output, limited

        spec = external_spec(tmp_path / "s.yaml", """\
            audit:
              file: {type: file, description: changed, options: {file_path: audit.log}}
            """)
        differs = run_cli(["plan", spec], env=env)
        assert "present but different (description)" in differs.output, differs
        applied = run_cli(["apply", spec, "--auto-approve"], env=env)
        assert applied.exit_code == 0, applied
        assert server.client().sys.list_enabled_audit_devices()["data"]["file/"]["description"] == ""


def test_api_audit_devices_where_the_server_allows_them(tmp_path, run_cli):
    with BaoDevServer(config_hcl="unsafe_allow_api_audit_creation = true\n") as server:
        env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(tmp_path),
               "BAO_ADDR": None, "BAO_TOKEN": None}
        spec = external_spec(tmp_path / "s.yaml", """\
            audit:
              api: {type: file, options: {file_path: api.log}}
            """)
        applied = run_cli(["apply", spec, "--auto-approve"], env=env)
        assert applied.exit_code == 0 and "+ audit_device.api" in applied.stdout, applied
        devices = server.client().sys.list_enabled_audit_devices()["data"]
        assert devices["api/"]["options"] == {"file_path": str(tmp_path / "api.log")}
        server.client().sys.list_policies()
        assert (tmp_path / "api.log").read_text().strip(), "the device logged nothing"
        assert run_cli(["plan", spec, "--detailed-exitcode"], env=env).exit_code == 0

        external_spec(tmp_path / "s.yaml", "")
        removed = run_cli(["apply", spec, "--auto-approve"], env=env)
        assert removed.exit_code == 0 and "- audit_device.api" in removed.stdout, removed
        assert "api/" not in server.client().sys.list_enabled_audit_devices()["data"]


def test_validate_refuses_bad_devices_offline(tmp_path, run_cli):
    offline = {"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": None, "BAO_ADDR": None, "BAO_TOKEN": None,
               "HOME": str(tmp_path)}
    cases = {
        "audit:\n  main: {type: file}\n": ("audit.main.options.file_path", "needs options.file_path"),
        "audit:\n  main: {type: jsonx, options: {file_path: a.log}}\n": ("audit.main.type", ""),
        "audit:\n  a/b: {type: file, options: {file_path: a.log}}\n": ("audit", "one path segment"),
        "audit:\n  main: {type: file, options: {file_path: {env: LOG}}}\n": ("audit.main.options.file_path", ""),
    }
    for body, (field, message) in cases.items():
        spec = external_spec(tmp_path / "s.yaml", body)
        result = run_cli(["validate", spec], env=offline)
        assert result.exit_code == 1 and "Traceback" not in result.output, (body, result)
        error = next(line for line in result.stderr.splitlines() if line.startswith("Error:"))
        assert f"s.yaml:{body.count(chr(10)) + 1}:" in error and field in error and message in error, (body, result)
    # A device named "file" is a device, not a {file: ...} value source.
    spec = external_spec(tmp_path / "s.yaml", "audit:\n  file: {type: file, options: {file_path: a.log}}\n")
    assert run_cli(["validate", spec], env=offline).exit_code == 0
