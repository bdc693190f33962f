"""`vaultform validate`: offline checks, as text and as JSON, and the pre-commit hook.

Every rule that claims "Vault refuses this" is checked here against the
session's real OpenBao server: the same value is written to Vault with the
root token, and validate must agree with what Vault did. validate itself runs
with VAULT_ADDR pointing at a closed port, and one test runs it under an
audit hook that records any connection or process it would open.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import hvac
import pytest
import yaml

from tests.support.bao import free_port
from tests.support.cli import assert_no_secrets

ROOT = Path(__file__).resolve().parent.parent
CLOSED_PORT_ADDR = f"http://127.0.0.1:{free_port()}"  # nothing listens there
OFFLINE_ENV = {"VAULT_ADDR": CLOSED_PORT_ADDR, "VAULT_TOKEN": None, "BAO_ADDR": None, "BAO_TOKEN": None}

ERROR_LINE = re.compile(r"^Error: (?P<file>[^:]+):(?P<line>\d+):(?P<column>\d+): (?P<field>\S+): (?P<message>.+)$")


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing needle."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def column_of(text: str, line: int, needle: str) -> int:
    return text.splitlines()[line - 1].index(needle) + 1


@pytest.fixture
def check(run_cli, tmp_path):
    """check(text, *args) -> (result, path): `vaultform validate PATH *args` on text, offline."""

    def run(text: str, *args: str, name: str = "vault.yaml"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        result = run_cli(["validate", str(path), *args], env=OFFLINE_ENV)
        assert result.exception is None, f"an exception escaped main(): {result.exception!r}"
        assert "Traceback" not in result.output, str(result)
        return result, path

    return run


def errors_of(result):
    return [ERROR_LINE.match(line) for line in result.stderr.splitlines() if line.startswith("Error:")]


def only_error(result):
    errors = errors_of(result)
    assert result.exit_code == 1 and len(errors) == 1 and errors[0], str(result)
    return errors[0]


# -- durations: validate agrees with OpenBao ----------------------------------------------

# Each is refused by OpenBao 2.7.2 on a role's token_ttl (the tests below show it).
SECRET_LOOKING = "pw-" + secrets.token_hex(6)  # a password pasted into the wrong field
BAD_DURATIONS = ["1y", "1w", "1H", "-5m", -5, "1h30", "1d12h", "1.5d", " 5m", "5m ", "1h 30m",
                 "2562048h", "9223372037", "106752d", 90.5, True, SECRET_LOOKING]
GOOD_DURATIONS = ["90s", "1h30m", "1.5h", "7d", "3600", 3600, "010", "250ms", "2562047h", "9223372036"]
ROLE_AUTH_TYPES = ["kubernetes", "approle"]  # kubernetes: checked by the schema; approle: by checks.py


@pytest.fixture(scope="module")
def role_mounts(bao):
    """One kubernetes and one approle auth method to write roles to."""
    client = bao.client()
    mounts = {kind: f"{kind}-dur-{secrets.token_hex(3)}" for kind in ROLE_AUTH_TYPES}
    for kind, path in mounts.items():
        client.sys.enable_auth_method(kind, path=path)
    yield mounts
    for path in mounts.values():
        client.sys.disable_auth_method(path)


def role_fields(auth_type: str, **fields) -> dict:
    base = {"bound_service_account_names": ["app"], "bound_service_account_namespaces": ["default"]} \
        if auth_type == "kubernetes" else {}
    return {**base, **fields}


def vault_takes_role(root, role_mounts, auth_type: str, **fields):
    """What OpenBao does with a role holding these fields: the role read back, or None if refused."""
    path = f"auth/{role_mounts[auth_type]}/role/probe"
    try:
        root.write_data(path, data=role_fields(auth_type, **fields))
    except hvac.exceptions.InvalidRequest:
        return None
    return root.read(path)["data"]


def role_spec(auth_type: str, **fields) -> str:
    role = json.dumps(role_fields(auth_type, **fields))  # JSON is YAML: every value keeps its type
    return f"version: 1\nauth:\n  login:\n    type: {auth_type}\n    roles:\n      app: {role}\n"


@pytest.mark.parametrize("auth_type", ROLE_AUTH_TYPES)
@pytest.mark.parametrize("value", BAD_DURATIONS, ids=lambda v: "secret-looking" if v == SECRET_LOOKING else repr(v))
def test_a_duration_vault_refuses_is_an_error_at_its_line(check, root, role_mounts, auth_type, value):
    assert vault_takes_role(root, role_mounts, auth_type, token_ttl=value) is None, \
        f"OpenBao now accepts token_ttl {value!r}: relax the check"
    text = role_spec(auth_type, token_ttl=value)
    result, path = check(text)
    error = only_error(result)
    assert (error["file"], int(error["line"])) == (str(path), 6), str(result)
    assert error["field"] == "auth.login.roles.app.token_ttl", str(result)
    assert re.search(r"is not a duration Vault accepts|negative|minimum 0|longer than Vault|must be integer or string",
                     error["message"]), str(result)
    assert_no_secrets(result.output, [SECRET_LOOKING], "validate's output")


@pytest.mark.parametrize("auth_type", ROLE_AUTH_TYPES)
@pytest.mark.parametrize("value", GOOD_DURATIONS, ids=repr)
def test_a_duration_vault_takes_passes_and_reads_as_vault_reads_it(check, root, role_mounts, auth_type, value):
    from vaultform.checks import vault_duration_seconds

    stored = vault_takes_role(root, role_mounts, auth_type, token_ttl=value)
    assert stored is not None, f"OpenBao refuses token_ttl {value!r}"
    assert vault_duration_seconds(value) == stored["token_ttl"]
    result, _ = check(role_spec(auth_type, token_ttl=value))
    assert result.exit_code == 0, str(result)


def test_an_empty_duration_is_refused_by_the_schema(check, root, role_mounts):
    """OpenBao takes "" as 0 on a role; the schema asks for a real value so a
    blanked-out field is noticed."""
    assert vault_takes_role(root, role_mounts, "kubernetes", token_ttl="")["token_ttl"] == 0
    result, _ = check(role_spec("kubernetes", token_ttl=""))
    assert "is not a duration Vault accepts" in only_error(result)["message"]


@pytest.mark.parametrize("auth_type, ttl_name, max_name, ttl, max_ttl, refused", [
    ("kubernetes", "token_ttl", "token_max_ttl", "48h", "24h", True),
    ("kubernetes", "ttl", "max_ttl", "48h", "24h", True),           # legacy names count the same
    ("kubernetes", "ttl", "token_max_ttl", "2d", "86400", True),
    ("kubernetes", "token_ttl", "token_max_ttl", "48h", 0, False),  # 0: no maximum
    ("kubernetes", "token_ttl", "token_max_ttl", "24h", "1d", False),  # equal is fine
    ("approle", "token_ttl", "token_max_ttl", "48h", "24h", True),
    ("approle", "token_ttl", "token_max_ttl", "48h", 0, False),
])
def test_a_role_ttl_above_its_max_ttl_is_refused_like_vault_does(check, root, role_mounts, auth_type,
                                                                 ttl_name, max_name, ttl, max_ttl, refused):
    fields = {ttl_name: ttl, max_name: max_ttl}
    vault_ok = vault_takes_role(root, role_mounts, auth_type, **fields) is not None
    assert vault_ok != refused, f"OpenBao {'took' if vault_ok else 'refused'} {fields} on {auth_type} now"
    result, path = check(role_spec(auth_type, **fields))
    assert (result.exit_code == 0) == vault_ok, str(result)
    if refused:
        error = only_error(result)
        assert error["field"] == f"auth.login.roles.app.{ttl_name}", str(result)
        assert f"is above {max_name}" in error["message"] and "Vault refuses the role" in error["message"]


def test_approle_has_no_legacy_ttl_names_and_the_schema_says_so(check, root, role_mounts):
    """AppRole takes no ttl/max_ttl (Vault ignores them silently): its typed
    schema refuses them, naming the field, instead of letting them pass."""
    assert vault_takes_role(root, role_mounts, "approle", ttl="48h", max_ttl="24h") is not None
    result, _ = check(role_spec("approle", ttl="48h", max_ttl="24h"))
    assert result.exit_code == 1, str(result)
    assert "auth.login.roles.app.ttl: unknown field (Vault would silently ignore it)" in result.output, str(result)


@pytest.mark.parametrize("section", ["secrets_engines", "auth"])
@pytest.mark.parametrize("default, maximum, expected", [
    ("48h", "24h", "error"),
    ("48h", 0, "valid"),                             # 0: the system default
    ("24h", "24h", "valid"),
    ("800h", None, "warning"),                       # above the dev server's system max of 768h
    ("800h", "1000h", "valid"),                      # a mount may go above the system max
    ("1y", None, "error"),
])
def test_lease_ttls_are_checked_like_vault_does(check, root, unique, section, default, maximum, expected):
    config = {"default_lease_ttl": default, **({} if maximum is None else {"max_lease_ttl": maximum})}
    path = unique("lease")
    enable, disable = ((root.sys.enable_auth_method, root.sys.disable_auth_method) if section == "auth" else
                       (root.sys.enable_secrets_engine, root.sys.disable_secrets_engine))
    try:
        enable("approle" if section == "auth" else "kv", path=path, config=config)
        disable(path)  # the shared server keeps no trace of the probe
        vault_ok = True
    except hvac.exceptions.InvalidRequest:
        vault_ok = False
    assert vault_ok == (expected == "valid"), f"OpenBao {'took' if vault_ok else 'refused'} {config}"
    tune_key = "tune" if section == "auth" else "config"
    kind = "approle" if section == "auth" else "kv"
    text = f"version: 1\n{section}:\n  m:\n    type: {kind}\n    {tune_key}: {json.dumps(config)}\n"
    result, _ = check(text)
    field = f"{section}.m.{tune_key}.default_lease_ttl"
    if expected == "error":
        assert only_error(result)["field"] == field, str(result)
    elif expected == "warning":
        assert result.exit_code == 0, str(result)
        assert any(line.startswith("Warning: ") and field in line and "system max lease TTL (768h)" in line
                   for line in result.stderr.splitlines()), str(result)
    else:
        assert result.exit_code == 0 and "Warning" not in result.stderr, str(result)


# -- policies: validate agrees with OpenBao -----------------------------------------------

POLICIES = {
    # name: (HCL or JSON text, what OpenBao does with it)
    "plain": ('path "secret/data/app/*" {\n  capabilities = ["read", "list"]\n}\n', True),
    "every-capability": ('path "a/*" {\n  capabilities = ["deny", "create", "read", "update", "patch", "delete",'
                         ' "list", "sudo", "scan"]\n}\n', True),
    "json": ('{"path": {"secret/data/app": {"capabilities": ["read"]}}}', True),
    "legacy-policy-key": ('path "a" {\n  policy = "write"\n}\n', True),
    "named": ('name = "named"\npath "a" { capabilities = ["read"] }\n', True),
    "comments": ('# who may read\npath "a" { # the app\n  capabilities = ["read"] // only read\n}\n', True),
    "parameters-and-wrapping": ('path "a" {\n  capabilities = ["create"]\n  allowed_parameters = {"x" = []}\n'
                                '  min_wrapping_ttl = "1s"\n  max_wrapping_ttl = "90s"\n}\n', True),
    "no-capabilities": ('path "a" {\n}\n', True),
    "typo-key": ('path "a" {\n  capabilitys = ["read"]\n}\n', False),
    "unknown-top-key": ('comment = "x"\npath "a" { capabilities = ["read"] }\n', False),
    "capabilities-as-string": ('path "a" {\n  capabilities = "read"\n}\n', False),
    "upper-case-capability": ('path "a" {\n  capabilities = ["Read"]\n}\n', False),
    "vault-only-capability": ('path "a" {\n  capabilities = ["subscribe"]\n}\n', False),
    "bad-wrapping-ttl": ('path "a" {\n  capabilities = ["create"]\n  max_wrapping_ttl = "1y"\n}\n', False),
    "wrapping-min-above-max": ('path "a" {\n  capabilities = ["create"]\n  min_wrapping_ttl = "2h"\n'
                               '  max_wrapping_ttl = "1h"\n}\n', False),
    "unclosed-list": ('path "a" {\n  capabilities = ["read"\n}\n', False),
}
# Where validate is stricter than OpenBao on purpose: OpenBao's lenient parser
# takes JSON with its closing brace missing; validate asks for valid JSON.
STRICTER = {"truncated-json": '{"path": {"a": {"capabilities": ["read"]}}'}


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_a_policy_passes_validate_exactly_when_vault_takes_it(check, root, unique, name):
    text, expected, probe = *POLICIES[name], unique("pol")
    try:
        root.sys.create_or_update_policy(probe, text)
        root.sys.delete_policy(probe)
        vault_ok = True
    except hvac.exceptions.InvalidRequest:
        vault_ok = False
    assert vault_ok == expected, f"OpenBao {'took' if vault_ok else 'refused'} policy {name!r} now"
    spec = "version: 1\npolicies:\n  p: |\n" + textwrap.indent(text, "    ")
    result, path = check(spec)
    if expected:
        assert result.exit_code == 0, str(result)
    else:
        error = only_error(result)
        assert error["file"] == str(path) and error["field"] == "policies.p", str(result)


@pytest.mark.parametrize("name", sorted(STRICTER))
def test_where_validate_is_stricter_than_vault(check, root, unique, name):
    probe = unique("pol")
    root.sys.create_or_update_policy(probe, STRICTER[name])  # OpenBao takes it
    root.sys.delete_policy(probe)
    result, _ = check("version: 1\npolicies:\n  p: |\n" + textwrap.indent(STRICTER[name], "    "))
    assert "policy is not valid JSON" in only_error(result)["message"], str(result)


@pytest.mark.parametrize("name, needle", [
    ("typo-key", "capabilitys"), ("unknown-top-key", "comment"), ("capabilities-as-string", "capabilities"),
    ("upper-case-capability", '"Read"'), ("bad-wrapping-ttl", "max_wrapping_ttl"),
    ("wrapping-min-above-max", "max_wrapping_ttl"), ("unclosed-list", "}"),
])
def test_a_policy_error_points_at_the_line_and_column_inside_the_policy(check, name, needle):
    text = POLICIES[name][0]
    spec = "version: 1\npolicies:\n  p: |\n" + textwrap.indent(text, "    ")
    result, _ = check(spec)
    error = only_error(result)
    line = line_of(spec, needle, occurrence=2 if needle == "}" and spec.count("}") > 1 else 1)
    assert (int(error["line"]), int(error["column"])) == (line, column_of(spec, line, needle)), str(result)


def test_policy_names_that_collide_case_insensitively_name_both_places(check, root, unique):
    # What Vault does: the second write lands on the first policy.
    name = unique("collide")
    root.sys.create_or_update_policy(name.upper(), 'path "first" { capabilities = ["read"] }')
    root.sys.create_or_update_policy(name, 'path "second" { capabilities = ["read"] }')
    assert name.upper() not in root.sys.list_policies()["data"]["policies"]
    assert "second" in root.sys.read_policy(name.upper())["data"]["rules"]
    root.sys.delete_policy(name)

    text = ("version: 1\npolicies:\n"
            "  webapp: 'path \"a\" { capabilities = [\"read\"] }'\n"
            "  other: 'path \"b\" { capabilities = [\"read\"] }'\n"
            "  WebApp: 'path \"c\" { capabilities = [\"list\"] }'\n")
    result, path = check(text)
    assert result.exit_code == 1, str(result)
    collision = [e for e in errors_of(result) if "collides" in e["message"]]
    assert len(collision) == 1, str(result)
    assert (int(collision[0]["line"]), int(collision[0]["column"])) == (5, 3)
    assert collision[0]["field"] == "policies.WebApp"
    assert f"collides with policy 'webapp' at {path}:3:3" in collision[0]["message"], str(result)


# -- warnings -------------------------------------------------------------------------------

def test_roles_naming_policies_outside_the_spec_are_warnings_at_each_name(check):
    text = textwrap.dedent("""\
        version: 1
        auth:
          approle:
            type: approle
            roles:
              a:
                token_policies: [webapp, default, Shared-Readers]
              b:
                policies: "WEBAPP,ops"
        policies:
          webapp: 'path "a" { capabilities = ["read"] }'
        """)
    result, path = check(text)
    assert result.exit_code == 0, str(result)
    comma_string = column_of(text, 9, '"WEBAPP')  # a comma-separated string: its own start
    assert result.stderr.splitlines() == [
        f"Warning: {path}:7:{column_of(text, 7, 'Shared-Readers')}: auth.approle.roles.a.token_policies: "
        "policy 'Shared-Readers' is not defined in this spec (it may exist in Vault)",
        f"Warning: {path}:9:{comma_string}: auth.approle.roles.b.policies: policy 'ops' is not "
        "defined in this spec (it may exist in Vault)",
    ], str(result)


def test_literal_secret_values_are_warned_about_by_key_never_by_value(check, run_cli, vault_env, unique):
    password, api_key, jwt = ("pw-" + secrets.token_hex(8), 40000 + secrets.randbelow(9999),
                              "eyJ" + secrets.token_urlsafe(24))
    text = textwrap.dedent(f"""\
        version: 1
        auth:
          kubernetes:
            type: kubernetes
            config:
              kubernetes_host: https://kubernetes.default.svc
              token_reviewer_jwt: "{jwt}"
        secrets:
          apps/webapp:
            password: "{password}"
            api_key: {api_key}
            from_env: {{env: HOME}}
            from_generator: {{generate: {{length: 16}}}}
            empty: ""
            enabled: true
            nothing: null
        """)
    result, path = check(text)
    assert result.exit_code == 0, str(result)
    warned = [line for line in result.stderr.splitlines() if "literal value" in line]
    assert [line.split(": ")[2] for line in warned] == [
        "auth.kubernetes.config.token_reviewer_jwt", "secrets.apps/webapp.password", "secrets.apps/webapp.api_key"]
    assert warned[1].startswith(f"Warning: {path}:10:5: secrets.apps/webapp.password: is a literal value")
    assert_no_secrets(result.output, [password, str(api_key), jwt], "validate's output")

    as_json, _ = check(text, "--format", "json")
    assert_no_secrets(as_json.output, [password, str(api_key), jwt], "validate --format json")
    assert [w["field"] for w in json.loads(as_json.stdout)["warnings"]] == [
        "auth.kubernetes.config.token_reviewer_jwt", "secrets.apps/webapp.password", "secrets.apps/webapp.api_key"]


def test_plan_takes_literal_values_without_the_lint_warning(tmp_path, run_cli, vault_env, unique):
    """The literal-value warning is validate's: plan and apply accept literals as documented."""
    mount = unique("lit")
    spec = tmp_path / "vault.yaml"
    spec.write_text(f"version: 1\nsecrets_engines:\n  {mount}: {{type: kv, options: {{version: '2'}}}}\n"
                    f"secrets:\n  {mount}/app:\n    username: static-user\n"
                    f"vault:\n  record: {{path: {unique('record')}}}\n")
    result = run_cli(["plan", str(spec)], env=vault_env)
    assert result.exit_code == 0, str(result)
    assert "literal value" not in result.output, str(result)


# -- output: text and JSON --------------------------------------------------------------------

BROKEN = textwrap.dedent("""\
    version: 1
    secrets_engines:
      kv:
        type: kv
        config: {default_lease_ttl: 1y}
        descripton: typo
    auth:
      approle:
        type: approle
        roles:
          app: {token_ttl: 48h, token_max_ttl: 24h, token_policies: [nowhere]}
    policies:
      App: 'path "a" { capabilities = ["raed"] }'
    """)


def test_json_output_has_the_documented_shape_and_every_error_is_located(check):
    result, path = check(BROKEN, "--format", "json")
    assert result.exit_code == 1, str(result)
    document = json.loads(result.stdout)  # stdout is the JSON document alone
    assert set(document) == {"valid", "errors", "warnings"} and document["valid"] is False
    for entry in document["errors"] + document["warnings"]:
        assert set(entry) == {"file", "line", "column", "field", "message"}, entry
        assert entry["file"] == str(path) and isinstance(entry["line"], int) and isinstance(entry["column"], int)
    # Schema errors stop the checks that rely on the schema's shapes; the
    # policy checks stand alone and are reported beside them.
    assert [(e["line"], e["field"]) for e in document["errors"]] == [
        (5, "secrets_engines.kv.config.default_lease_ttl"), (6, "secrets_engines.kv.descripton"),
        (13, "policies.App"), (13, "policies.App")], document
    # The same findings go to stderr as one-line errors, for people reading the log.
    assert len(errors_of(result)) == 4 and all(errors_of(result)), str(result)

    fixed = BROKEN.replace("1y", "1h").replace("    descripton: typo\n", "")
    result, _ = check(fixed, "--format", "json")
    document = json.loads(result.stdout)
    assert [(e["line"], e["field"]) for e in document["errors"]] == [
        (10, "auth.approle.roles.app.token_ttl"), (12, "policies.App"), (12, "policies.App")], document
    assert [(w["line"], w["field"]) for w in document["warnings"]] == [
        (10, "auth.approle.roles.app.token_policies")], document


def test_json_output_when_the_spec_cannot_even_be_read(check, run_cli, tmp_path):
    result, path = check("version: 1\npolicies:\n  a: 'unterminated\n", "--format", "json")
    document = json.loads(result.stdout)
    assert result.exit_code == 1 and document["valid"] is False
    [entry] = document["errors"]
    assert entry["file"] == str(path) and entry["line"] == 4 and entry["message"].startswith("invalid YAML")

    missing = run_cli(["validate", str(tmp_path / "nope.yaml"), "--format", "json"], env=OFFLINE_ENV)
    assert missing.exit_code == 1
    assert json.loads(missing.stdout)["errors"] == [{
        "file": str(tmp_path / "nope.yaml"), "line": None, "column": None, "field": None,
        "message": f"spec file {tmp_path / 'nope.yaml'} does not exist"}]


def test_a_valid_spec_as_json(check):
    result, _ = check("version: 1\npolicies:\n  a: 'path \"a\" { capabilities = [\"read\"] }'\n", "--format", "json")
    assert result.exit_code == 0 and result.stderr == "", str(result)
    assert json.loads(result.stdout) == {"valid": True, "errors": [], "warnings": []}


def test_several_specs_at_once_each_checked_on_its_own(run_cli, tmp_path):
    good, bad = tmp_path / "vault-a.yaml", tmp_path / "vault-b.yaml"
    good.write_text("version: 1\n")
    bad.write_text("version: 2\n")
    result = run_cli(["validate", str(good), str(bad)], env=OFFLINE_ENV)
    assert result.exit_code == 1, str(result)
    assert result.stdout == f"{good} is valid (nothing to manage).\n"
    assert result.stderr == f"Error: {bad}:1:10: version: must be 1\n"


# -- no Vault, no network --------------------------------------------------------------------

# Runs the CLI with an audit hook that writes down every outgoing connection,
# name lookup and process start to $AUDIT_LOG, and refuses it.
AUDITED = """\
import os, sys
LOG = os.environ["AUDIT_LOG"]
WATCHED = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "subprocess.Popen", "os.exec", "os.spawn",
           "os.posix_spawn", "os.system")
def audit(event, args):
    if event in WATCHED:
        with open(LOG, "a") as log:
            log.write(f"{event} {args!r}\\n")
        raise RuntimeError(f"audited: {event}")
sys.addaudithook(audit)
from vaultform.cli import main
main(sys.argv[1:])
"""

FULL_SPEC = (ROOT / "examples" / "vault.yaml").read_text(encoding="utf-8")


def audited_run(tmp_path: Path, *args: str):
    log = tmp_path / "audit.log"
    log.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(AUDIT_LOG=str(log), VAULT_ADDR=CLOSED_PORT_ADDR, VAULT_TOKEN="not-a-real-token",
               HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", AUDITED, *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=60)
    return proc, log.read_text()


def test_validate_opens_no_connection_and_starts_nothing(tmp_path):
    # The tutorial spec: a local cluster, Kubernetes auth, a file source and a generator.
    shutil.copy(ROOT / "examples" / "kubernetes-ca.crt", tmp_path / "kubernetes-ca.crt")
    (tmp_path / "vault.yaml").write_text(FULL_SPEC)
    proc, audit = audited_run(tmp_path, "validate", "vault.yaml")
    assert proc.returncode == 0 and audit == "", f"{proc.stdout}{proc.stderr}\naudit log:\n{audit}"
    assert "is valid" in proc.stdout
    assert not (tmp_path / ".vaultform").exists(), "validate created the local cluster's data dir"

    # The same harness does catch a command that talks to Vault.
    external = tmp_path / "external.yaml"
    external.write_text("version: 1\npolicies:\n  a: 'path \"a\" { capabilities = [\"read\"] }'\n")
    proc, audit = audited_run(tmp_path, "plan", "external.yaml")
    assert proc.returncode == 1 and "socket." in audit, f"{proc.stdout}{proc.stderr}\naudit log:\n{audit}"


# -- the pre-commit hook ---------------------------------------------------------------------

HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))


def test_the_pre_commit_manifest_is_one_that_pre_commit_accepts():
    clientlib = pytest.importorskip("pre_commit.clientlib", reason="pip install pre-commit (in the test extra)")
    [hook] = clientlib.load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))
    assert (hook["id"], hook["entry"], hook["language"]) == ("vaultform-validate", "vaultform validate", "python")


@pytest.mark.parametrize("path, matched", [
    ("vault.yaml", True), ("vault.yml", True), ("infra/vault-prod.yaml", True), ("vaultform.yml", True),
    (".github/workflows/vaultform.yml", False), ("docs/values.yaml", False), ("vault.yaml.bak", False),
    ("myvault.yaml", False),
])
def test_the_hook_picks_vault_specs_and_skips_workflows(path, matched):
    [hook] = HOOKS
    picked = bool(re.search(hook["files"], path)) and not re.search(hook["exclude"], path)
    assert picked == matched


def test_pre_commit_runs_the_hook_on_the_matching_files(tmp_path):
    """pre-commit itself picks the files and passes them to the hook's entry.

    The hook is used as `repo: local` with `language: system` (no install,
    no network), with the published manifest's entry, files and exclude."""
    pytest.importorskip("pre_commit", reason="pip install pre-commit (in the test extra)")
    [hook] = HOOKS
    bin_dir = Path(sys.executable).parent
    repo = tmp_path / "repo"
    (repo / "infra").mkdir(parents=True)
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / "vault.yaml").write_text("version: 1\n")
    (repo / "infra" / "vault-prod.yml").write_text("version: 1\npolicies:\n  Bad: 'path \"a\" {}'\n")
    (repo / ".github" / "workflows" / "vaultform.yml").write_text("name: not a spec\n")
    (repo / "values.yaml").write_text("not: a spec\n")
    config = {"repos": [{"repo": "local", "hooks": [{
        "id": hook["id"], "name": hook["name"], "entry": str(bin_dir / hook["entry"]),
        "language": "system", "files": hook["files"], "exclude": hook["exclude"]}]}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(HOME=str(tmp_path), PRE_COMMIT_HOME=str(tmp_path / "cache"), PATH=f"{bin_dir}:{env['PATH']}")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run([*git, "add", "."], cwd=repo, check=True, env=env)
    proc = subprocess.run([str(bin_dir / "pre-commit"), "run", "--all-files", "--verbose"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "vault.yaml is valid" in output, output
    assert "Error: infra/vault-prod.yml:3:3: policies.Bad: policy names are case-insensitive" in output, output
    assert "workflows" not in output and "values.yaml" not in output, output


def test_the_count_says_one_policy_and_two_secrets_engines(check):
    result, path = check("""\
        version: 1
        secrets_engines:
          kv: {type: kv-v2}
          transit: {type: transit}
        auth:
          approle: {type: approle}
        policies:
          a: 'path "a" { capabilities = ["read"] }'
        secrets:
          kv/app: {user: alice}
        token_roles:
          ci: {allowed_policies: [a]}
        """)
    assert result.exit_code == 0, str(result)
    assert result.stdout == (f"{path} is valid (1 auth method, 2 secrets engines, 1 token role, 1 policy, "
                             "1 secret).\n"), str(result)


def test_a_name_that_would_not_stay_a_name_is_reported_beside_schema_errors(check):
    result, path = check("""\
        version: 1
        secrets:
          secret/../sys/policies/acl/x: {policy: {env: HOME}}
          "secret/a\\nb": {k: {env: HOME}}
        auth:
          approle: {type: approle, roles: {r: {token_ttl: 1 hour}}}
        """)
    assert result.exit_code == 1 and result.stdout == "", str(result)
    lines = result.stderr.splitlines()
    assert lines[0] == (f"Error: {path}:3:3: secrets.secret/../sys/policies/acl/x: the name has a '..' part, "
                        "which a URL would resolve away"), str(result)
    assert lines[1].startswith(f"Error: {path}:4:3: secrets.secret/a b: ") and len(lines) == 3, str(result)
    assert lines[2].startswith(f"Error: {path}:6:") and "token_ttl" in lines[2], str(result)


def test_free_form_values_yaml_reads_otherwise_are_warned_about_without_repeating_them(check):
    """A PIN written 0123 is 83 to YAML 1.1, the country code NO is false:
    Vault would get those. Warned where the data is free-form (a secret's
    literal values, metadata), never repeating the value; typed fields
    (a boolean, a count) take YAML's reading as meant."""
    result, path = check("""\
        version: 1
        secrets_engines:
          kv: {type: kv-v2, kv: {max_versions: 010}}
        auth:
          approle: {type: approle, roles: {ci: {bind_secret_id: yes}}}
        namespaces:
          team:
            secrets_engines: {kv: {type: kv-v2}}
            secrets: {kv/app: {pin: 0042}}
        secrets:
          kv/app:
            pin: 0123
            country: NO
            quoted: '0123'
            plain: 42
            on_off: {nested: on}
        """)
    assert result.exit_code == 0, str(result)
    octal = "YAML 1.1 reads a number written with a leading zero as octal"
    boolean = "YAML 1.1 reads yes, no, on, off, y and n as booleans"
    warned = dict(re.findall(r"(?m)^Warning: \S+:\d+:\d+: (\S+): (YAML 1\.1 .*)$", result.stderr))
    assert set(warned) == {"namespaces.team.secrets.kv/app.pin", "secrets.kv/app.pin", "secrets.kv/app.country",
                           "secrets.kv/app.on_off.nested"}, str(result)
    assert warned["secrets.kv/app.pin"].startswith(octal) and warned["secrets.kv/app.country"].startswith(boolean)
    assert f"{path}:12:10: secrets.kv/app.pin: {octal}" in result.stderr, str(result)
    assert not {"0123", "83", "0042", "34"} & set(re.findall(r"\d+", result.stderr.replace(str(path), ""))), \
        str(result)
