"""Bad input: one-line errors naming where the problem is, exit 1, no
traceback (unless --debug), and Vault left exactly as it was.

Every case runs the real CLI in a subprocess against a real OpenBao dev
server, snapshots what vaultform could have changed (mounts, auth methods,
policies, the KV tree) before and after, and checks that no secret value or
token shows up in anything printed.
"""

from __future__ import annotations

import re
import secrets
import textwrap
from pathlib import Path

import pytest
import requests

from tests.support.bao import BaoDevServer, free_port
from tests.support.cli import (
    assert_clean_failure,
    assert_no_secrets,
    bao_pids_under,
    clean_env,
    error_lines,
    run,
)
from tests.support.kube import FakeKubernetesAPI
from tests.support.record import recorded_objects

PASSWORD = "pw-" + secrets.token_urlsafe(18)
ROLE_POLICY = 'path "sys/mounts" { capabilities = ["read"] }'
READ_EVERYTHING = 'path "*" { capabilities = ["read", "list"] }'

GOOD_SPEC = """\
version: 1
secrets_engines:
  secret:
    type: kv
    options: {{version: "2"}}
auth:
  kubernetes:
    type: kubernetes
    config:
      kubernetes_host: {kube_url}
      kubernetes_ca_cert: {{file: ca.crt}}
    roles:
      webapp:
        bound_service_account_names: [vault]
        bound_service_account_namespaces: [default]
        policies: [webapp]
        ttl: 24h
policies:
  webapp: |
    path "secret/data/webapp/config" {{
      capabilities = ["read"]
    }}
secrets:
  secret/webapp/config:
    username: static-user
    password: {{env: WEBAPP_PASSWORD}}
"""


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kube():
    with FakeKubernetesAPI() as api:
        yield api


@pytest.fixture(scope="module")
def bao():
    """One dev server for every case that must change nothing."""
    with BaoDevServer() as server:
        client = server.client()
        client.sys.disable_secrets_engine("secret")
        client.sys.create_or_update_policy("mounts-only", ROLE_POLICY)
        client.sys.create_or_update_policy("read-everything", READ_EVERYTHING)
        server.tokens = {
            "mounts_only": client.auth.token.create(policies=["mounts-only"], no_default_policy=True)["auth"]["client_token"],
            "default_only": client.auth.token.create(policies=["default"])["auth"]["client_token"],
            "read_only": client.auth.token.create(policies=["read-everything"])["auth"]["client_token"],
        }
        yield server


def snapshot(server: BaoDevServer) -> dict:
    """What a vaultform run could have changed."""
    client = server.client()
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    auths = client.sys.list_auth_methods()["data"]
    policies = sorted(client.sys.list_acl_policies()["data"]["keys"])
    kv = {}
    for path, entry in mounts.items():
        if entry["type"] == "kv":
            listing = requests.request("LIST", f"{server.address}/v1/{path}metadata",
                                       headers={"X-Vault-Token": server.root_token}, timeout=5)
            kv[path] = sorted(listing.json()["data"]["keys"]) if listing.status_code == 200 else listing.status_code
    return {
        "mounts": {p: (e["type"], e.get("options"), e.get("description"), e.get("config")) for p, e in mounts.items()},
        "auth": {p: (e["type"], e.get("description")) for p, e in auths.items()},
        "policies": {name: client.sys.read_policy(name)["data"]["rules"] for name in policies},
        "kv": kv,
    }


@pytest.fixture
def unchanged(bao):
    """Assert at teardown that the shared server is as it was."""
    before = snapshot(bao)
    yield
    assert snapshot(bao) == before, "a failed run changed Vault"


@pytest.fixture
def env(tmp_path, bao):
    home = tmp_path / "home"
    home.mkdir()
    return clean_env(home, VAULT_ADDR=bao.address, VAULT_TOKEN=bao.root_token, WEBAPP_PASSWORD=PASSWORD)


@pytest.fixture
def spec_dir(tmp_path, kube):
    work = tmp_path / "work"
    work.mkdir()
    kube.write_ca(work / "ca.crt")
    return work


def write(spec_dir: Path, text: str, name: str = "vault.yaml") -> Path:
    path = spec_dir / name
    path.write_text(text)
    return path


def good_spec(kube) -> str:
    return GOOD_SPEC.format(kube_url=kube.url)


def line_of(text: str, needle: str) -> int:
    """1-based line number of the first line containing needle."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def secrets_of(server: BaoDevServer) -> list:
    return [PASSWORD, server.root_token, *server.tokens.values()]


def check_run(server, spec_dir, *args, env, cwd=None):
    """Run a command expected to fail cleanly; return its single error line."""
    result = run(*args, env=env, cwd=cwd or spec_dir)
    assert_clean_failure(result)
    assert_no_secrets(result.output, secrets_of(server), f"output of vaultform {' '.join(args)}")
    lines = error_lines(result)
    assert len(lines) == 1, str(result)
    return result, lines[0]


# -- the spec itself is wrong ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_broken_yaml_names_file_line_and_column(bao, spec_dir, env, unchanged, command):
    write(spec_dir, "version: 1\npolicies:\n  webapp: \"unterminated\n  other: x\n")
    args = [command, "vault.yaml"] + (["--auto-approve"] if command == "apply" else [])
    result, error = check_run(bao, spec_dir, *args, env=env)
    assert re.fullmatch(r"Error: vault\.yaml:5:1: invalid YAML: .+", error), error
    assert "line 3, column 11" in error, error  # where the unclosed quote began


def test_bad_indentation_points_at_the_line(bao, spec_dir, env, unchanged):
    text = "version: 1\npolicies:\n  webapp: x\n   other: y\n"
    write(spec_dir, text)
    _, error = check_run(bao, spec_dir, "apply", "vault.yaml", "--auto-approve", env=env)
    assert error.startswith("Error: vault.yaml:4:"), error
    assert "invalid YAML" in error


def test_duplicate_key_is_an_error(bao, spec_dir, env, unchanged):
    write(spec_dir, "version: 1\npolicies:\n  webapp: 'a'\n  webapp: 'b'\n")
    _, error = check_run(bao, spec_dir, "plan", "vault.yaml", env=env)
    assert error.startswith("Error: vault.yaml:4:3:"), error
    assert "duplicate key 'webapp'" in error


def test_schema_errors_are_all_reported_at_once_each_with_its_line(bao, spec_dir, env, unchanged):
    hidden = "sEcReT-" + secrets.token_hex(8)
    text = textwrap.dedent(f"""\
        version: 1
        vault:
          address: "{hidden}"
        secrets_engines:
          secret:
            options: {{version: "2"}}
        auth:
          kubernetes:
            type: 5
        policies:
          webapp: [1, 2]
        """)
    write(spec_dir, text)
    result = run("apply", "vault.yaml", "--auto-approve", env=env, cwd=spec_dir)
    assert_clean_failure(result)
    assert error_lines(result) == [
        "Error: vault.yaml:3:12: vault.address: has an invalid format",
        "Error: vault.yaml:6:5: secrets_engines.secret: missing required field 'type'",
        "Error: vault.yaml:9:11: auth.kubernetes.type: must be string",
        "Error: vault.yaml:11:11: policies.webapp: must be string",
    ], str(result)
    # A value in the wrong place may be a secret: messages never echo it.
    assert_no_secrets(result.output, [hidden], "schema errors")


def test_unknown_top_level_section_is_named(bao, spec_dir, env, unchanged):
    write(spec_dir, "version: 1\npolices:\n  webapp: 'path \"a\" { capabilities = [\"read\"] }'\n")
    _, error = check_run(bao, spec_dir, "apply", "vault.yaml", "--auto-approve", env=env)
    assert error == "Error: vault.yaml:2:1: polices: unknown section; did you mean 'policies'?", error


def test_misspelled_role_field_gets_did_you_mean(bao, spec_dir, env, unchanged, kube):
    text = good_spec(kube).replace("        ttl: 24h", "        ttll: 24h")
    write(spec_dir, text)
    _, error = check_run(bao, spec_dir, "apply", "vault.yaml", "--auto-approve", env=env)
    line = line_of(text, "ttll:")
    assert error.startswith(f"Error: vault.yaml:{line}:9: auth.kubernetes.roles.webapp.ttll: unknown field"), error
    assert "did you mean 'ttl'?" in error, error


def test_missing_env_var_names_the_variable_and_the_spec_line(bao, spec_dir, env, unchanged, kube):
    text = good_spec(kube)
    write(spec_dir, text)
    del env["WEBAPP_PASSWORD"]
    for args in (["plan", "vault.yaml"], ["apply", "vault.yaml", "--auto-approve"]):
        result, error = check_run(bao, spec_dir, *args, env=env)
        line = line_of(text, "WEBAPP_PASSWORD")
        assert error.startswith(f"Error: vault.yaml:{line}:"), error
        assert "secrets.secret/webapp/config.password" in error, error
        assert "environment variable WEBAPP_PASSWORD is not set" in error, error
        assert result.stdout == "", result  # no plan printed for a spec that cannot be planned


def test_missing_file_source_names_the_file_and_the_spec_line(bao, spec_dir, env, unchanged, kube):
    text = good_spec(kube).replace("{file: ca.crt}", "{file: certs/missing-ca.crt}")
    write(spec_dir, text)
    _, error = check_run(bao, spec_dir, "apply", "vault.yaml", "--auto-approve", env=env)
    line = line_of(text, "missing-ca.crt")
    assert error.startswith(f"Error: vault.yaml:{line}:"), error
    assert "auth.kubernetes.config.kubernetes_ca_cert" in error
    assert f"file {spec_dir / 'certs' / 'missing-ca.crt'} does not exist" in error, error


def test_key_threshold_above_key_shares_starts_nothing(bao, spec_dir, env, unchanged):
    port = free_port()
    text = textwrap.dedent(f"""\
        version: 1
        cluster:
          provider: local
          listen: 127.0.0.1:{port}
          data_dir: data
          init:
            key_shares: 2
            key_threshold: 3
        """)
    write(spec_dir, text)
    for args in (["plan", "vault.yaml"], ["apply", "vault.yaml", "--auto-approve"]):
        _, error = check_run(bao, spec_dir, *args, env={k: v for k, v in env.items() if not k.startswith("VAULT_")})
        assert error == (f"Error: vault.yaml:{line_of(text, 'key_threshold')}:20: cluster.init.key_threshold: "
                         "key_threshold (3) is above key_shares (2)"), error
    assert not (spec_dir / "data").exists()
    assert bao_pids_under(spec_dir) == []


def test_missing_spec_file(bao, spec_dir, env, unchanged):
    _, error = check_run(bao, spec_dir, "plan", "nope.yaml", env=env)
    assert error == "Error: spec file nope.yaml does not exist", error


# -- Vault is wrong (unreachable, token not good enough) ------------------------------------


def test_unreachable_vault_names_the_address(bao, spec_dir, env, kube):
    write(spec_dir, good_spec(kube))
    dead = f"http://127.0.0.1:{free_port()}"
    env["VAULT_ADDR"] = dead
    for args in (["plan", "vault.yaml"], ["apply", "vault.yaml", "--auto-approve"],
                 ["plan", "vault.yaml", "--address", dead]):
        _, error = check_run(bao, spec_dir, *args, env=env)
        assert error == f"Error: cannot reach Vault at {dead}: connection refused or unreachable", error


def test_invalid_token_is_named_by_its_source(bao, spec_dir, env, unchanged, kube):
    write(spec_dir, good_spec(kube))
    env["VAULT_TOKEN"] = "s.not-a-real-token-" + secrets.token_hex(6)
    result, error = check_run(bao, spec_dir, "apply", "vault.yaml", "--auto-approve", env=env)
    assert error == (f"Error: Vault at {bao.address} refused the token from VAULT_TOKEN: set VAULT_TOKEN to a "
                     "valid token (or unset it to use the next source)"), error
    assert_no_secrets(result.output, [env["VAULT_TOKEN"]], "output")


@pytest.mark.parametrize("token", ["mounts_only", "default_only"])
def test_forbidden_read_names_the_path_and_the_capability(bao, spec_dir, env, unchanged, kube, token):
    write(spec_dir, good_spec(kube))
    env["VAULT_TOKEN"] = bao.tokens[token]
    for args in (["plan", "vault.yaml"], ["apply", "vault.yaml", "--auto-approve"]):
        result, error = check_run(bao, spec_dir, *args, env=env)
        assert "permission denied" in error, error
        assert "LIST vaultform/metadata/managed-objects/" in error, error  # the first thing a plan reads
        assert "needs the 'list' capability on 'vaultform/metadata/managed-objects/'" in error, error
        assert bao.address in error
        assert "not valid" not in error  # the token is valid, just not allowed


def test_forbidden_write_stops_apply_at_the_first_change(bao, spec_dir, env, unchanged, kube):
    write(spec_dir, good_spec(kube))
    env["VAULT_TOKEN"] = bao.tokens["read_only"]
    result = run("apply", "vault.yaml", "--auto-approve", env=env, cwd=spec_dir)
    assert result.returncode == 1, str(result)
    assert "Traceback" not in result.output
    assert_no_secrets(result.output, secrets_of(bao), "output")
    assert "+ auth_method.kubernetes" in result.stdout, result  # the plan was read and shown
    errors = error_lines(result)
    # An apply's first write takes the apply lock (docs/apply-lock.md); a
    # failure at a later change is covered in tests/test_lock.py.
    assert errors == [
        "Error: cannot take the apply lock vaultform/managed-objects-lock: permission denied: POST sys/mounts/vaultform "
        f"needs the 'create/update' capability on 'sys/mounts/vaultform' (Vault at {bao.address})"], str(result)


# -- confirmation, exit codes, usage ----------------------------------------------------------


@pytest.mark.parametrize("stdin", [None, "yes\n"])
def test_apply_without_a_terminal_refuses_unless_auto_approved(bao, spec_dir, env, unchanged, kube, stdin):
    write(spec_dir, good_spec(kube))
    result = run("apply", "vault.yaml", env=env, cwd=spec_dir, stdin=stdin)
    assert_clean_failure(result)
    assert "+ policy.webapp" in result.stdout, result  # the plan is shown first
    assert error_lines(result) == ["Error: no terminal to confirm on: review the plan and pass "
                                   "--auto-approve to apply it"], str(result)
    assert_no_secrets(result.output, secrets_of(bao), "output")


@pytest.mark.parametrize("args, message", [
    ([], None),
    (["plan"], "Error: Missing argument 'SPEC'. (see 'vaultform plan --help')"),
    (["apply", "vault.yaml", "--detailed-exitcode"],
     "Error: No such option '--detailed-exitcode'. (see 'vaultform apply --help')"),
    (["plan", "vault.yaml", "--target"], "Error: Option '--target' requires an argument."),
    (["frobnicate"], "Error: No such command 'frobnicate'. (see 'vaultform --help')"),
])
def test_usage_errors_exit_1(spec_dir, env, kube, args, message):
    write(spec_dir, good_spec(kube))
    result = run(*args, env=env, cwd=spec_dir)
    assert result.returncode == 1, str(result)
    assert "Traceback" not in result.output
    if message is None:
        assert result.stderr.startswith("Usage: vaultform"), str(result)
        assert "Error" not in result.output
    else:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(message), str(result)


def test_help_and_version_exit_0(spec_dir, env):
    for args in (["--help"], ["plan", "--help"], ["--version"]):
        result = run(*args, env=env, cwd=spec_dir)
        assert result.returncode == 0 and result.stderr == "", str(result)


def test_debug_adds_a_traceback(bao, spec_dir, env, unchanged, kube):
    write(spec_dir, good_spec(kube).replace("        ttl: 24h", "        ttll: 24h"))
    plain = run("plan", "vault.yaml", env=env, cwd=spec_dir)
    debug = run("plan", "vault.yaml", "--debug", env=env, cwd=spec_dir)
    assert plain.returncode == debug.returncode == 1
    assert "Traceback" not in plain.output
    assert "Traceback (most recent call last)" in debug.stderr, str(debug)
    assert error_lines(debug) == error_lines(plain)
    # Vault errors too, and the traceback holds no token either.
    env["VAULT_TOKEN"] = bao.tokens["read_only"]
    write(spec_dir, good_spec(kube))
    failed = run("apply", "vault.yaml", "--auto-approve", "--debug", env=env, cwd=spec_dir)
    assert failed.returncode == 1 and "Traceback (most recent call last)" in failed.stderr, str(failed)
    assert_no_secrets(failed.output, secrets_of(bao), "--debug output")


def test_detailed_exitcode_and_no_secret_in_plans(spec_dir, kube, tmp_path):
    """2 with changes, 0 without; a changed secret shows as changed, never as its value."""
    with BaoDevServer() as server:
        server.client().sys.disable_secrets_engine("secret")
        env = clean_env(tmp_path / "home", VAULT_ADDR=server.address, VAULT_TOKEN=server.root_token,
                        WEBAPP_PASSWORD=PASSWORD)
        write(spec_dir, good_spec(kube))
        leaks = [PASSWORD, server.root_token]

        changes = run("plan", "vault.yaml", "--detailed-exitcode", env=env, cwd=spec_dir)
        assert changes.returncode == 2, str(changes)
        assert "+ secret.secret/webapp/config" in changes.stdout and "(sensitive value)" in changes.stdout
        plain = run("plan", "vault.yaml", env=env, cwd=spec_dir)
        assert plain.returncode == 0 and plain.stdout == changes.stdout, str(plain)

        applied = run("apply", "vault.yaml", "--auto-approve", env=env, cwd=spec_dir)
        assert applied.returncode == 0, str(applied)
        same = run("plan", "vault.yaml", "--detailed-exitcode", env=env, cwd=spec_dir)
        assert same.returncode == 0 and "No changes." in same.stdout, str(same)

        env["WEBAPP_PASSWORD"] = new_password = "pw2-" + secrets.token_urlsafe(18)
        leaks.append(new_password)
        changed = run("plan", "vault.yaml", "--detailed-exitcode", env=env, cwd=spec_dir)
        assert changed.returncode == 2, str(changed)
        assert re.search(r"~ secret\.secret/webapp/config", changed.stdout), str(changed)
        assert "password : (sensitive value changed)" in changed.stdout, str(changed)
        assert "username" not in changed.stdout  # unchanged keys are not listed

        # destroy asks too, and without a terminal it refuses.
        before = snapshot(server)
        refused = run("destroy", "vault.yaml", env=env, cwd=spec_dir)
        assert_clean_failure(refused)
        assert "- policy.webapp" in refused.stdout, str(refused)
        assert error_lines(refused) == ["Error: no terminal to confirm on: review the plan and pass "
                                        "--auto-approve to apply it"], str(refused)
        assert snapshot(server) == before

        # The ownership record vaultform keeps in Vault holds no secret value either.
        record = recorded_objects(server.client())
        assert "secret.secret/webapp/config" in record
        assert_no_secrets(repr(record), leaks, "the ownership record")

        for result in (changes, plain, applied, same, changed, refused):
            assert_no_secrets(result.output, leaks, f"output of vaultform {' '.join(result.args)}")


def test_local_cluster_spec_refuses_an_exported_vault_addr(bao, spec_dir, env, unchanged):
    """A spec that runs its own cluster must not configure whatever VAULT_ADDR names."""
    port = free_port()
    text = textwrap.dedent(f"""\
        version: 1
        cluster:
          provider: local
          listen: 127.0.0.1:{port}
          data_dir: data
        policies:
          webapp: 'path "secret/data/webapp/config" {{ capabilities = ["read"] }}'
        """)
    write(spec_dir, text)
    for args in (["plan", "vault.yaml"], ["apply", "vault.yaml", "--auto-approve"]):
        _, error = check_run(bao, spec_dir, *args, env=env)
        assert error == (f"Error: vault.yaml:2:1: the spec runs a local cluster at http://127.0.0.1:{port}, "
                         f"but VAULT_ADDR points at {bao.address}: unset VAULT_ADDR or make it "
                         f"http://127.0.0.1:{port}"), error
    assert not (spec_dir / "data").exists()
    assert bao_pids_under(spec_dir) == []


def test_local_cluster_port_in_use_is_named(bao, spec_dir, env, unchanged):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        write(spec_dir, f"version: 1\ncluster:\n  provider: local\n  listen: 127.0.0.1:{port}\n  data_dir: data\n")
        local_env = {k: v for k, v in env.items() if not k.startswith("VAULT_")}
        _, error = check_run(bao, spec_dir, "apply", "vault.yaml", "--auto-approve", env=local_env)
    assert f"port 127.0.0.1:{port} is already in use" in error, error
    assert error.startswith("Error: cluster.node[0]: cannot start node0"), error
    assert bao_pids_under(spec_dir) == []
    assert not (spec_dir / "data" / "node0" / "raft").exists()


def test_issuer_without_validation_is_warned_about(spec_dir, env, kube):
    """OpenBao ignores `issuer` unless disable_iss_validation is false; the
    tutorial sets it expecting a check, so vaultform says it is not enforced."""
    text = good_spec(kube).replace("      kubernetes_ca_cert: {file: ca.crt}\n",
                                   "      kubernetes_ca_cert: {file: ca.crt}\n      issuer: https://k8s.example\n")
    write(spec_dir, text)
    result = run("validate", "vault.yaml", env=env, cwd=spec_dir)
    assert result.returncode == 0, str(result)
    # (validate also flags the spec's literal username; that check has its own tests)
    assert [w for w in result.stderr.splitlines() if "literal value" not in w] == [
        f"Warning: vault.yaml:{line_of(text, 'issuer:')}:15: auth.kubernetes.config.issuer: the issuer is not "
        "checked unless disable_iss_validation is false (it defaults to true); set disable_iss_validation: "
        "false to enforce it"], str(result)
    write(spec_dir, text.replace("      issuer: https://k8s.example\n",
                                 "      issuer: https://k8s.example\n      disable_iss_validation: false\n"))
    quiet = run("validate", "vault.yaml", env=env, cwd=spec_dir)
    assert quiet.returncode == 0 and [w for w in quiet.stderr.splitlines() if "literal value" not in w] == [], \
        str(quiet)
