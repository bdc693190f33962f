"""Secrets are safe by construction, not by search-and-replace (issue 8, part 1).

Against real OpenBao servers the tests start: a value from a value source is
sensitive whatever auth type carries it, write-only fields are compared by
fingerprint and never planned again when unchanged, the redactor catches
escaped forms but never garbles short or common strings, tokens are cleaned
before use, and a bao node vaultform starts holds no token or source variable.
Hostile values throughout: quotes, backslashes, newlines, unicode, JSON
metacharacters, short numbers and a token equal to a common word.
"""

from __future__ import annotations

import json
import os
import secrets
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.support.bao import BaoDevServer
from tests.support.cli import Transcript, assert_clean_failure, bao_pids_under, clean_env, free_port_run
from tests.support.record import recorded_objects


def hostile(tag: str) -> str:
    """A value with everything that escapes differently in JSON, repr and text."""
    return f'q"uo\'te\\back\\\\slash\nnew line\t{{"json": [1, "x"]}} é✓—ü {tag}-{secrets.token_hex(4)}'


def every_form(value: str) -> list:
    """The raw value and each escaped form an output could carry it in."""
    return [value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1],
            value.encode("unicode_escape").decode("ascii")] + [line for line in value.splitlines() if len(line) > 6]


def assert_nothing_leaks(text: str, values: list, where: str) -> None:
    for value in values:
        for form in every_form(value):
            assert form not in text, f"{where} holds a secret value (form {form[:12]!r}...):\n{text}"


# -- an OIDC provider on loopback, so Vault accepts an oidc_client_secret ----------

class _Discovery(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        body = json.dumps({"issuer": base, "jwks_uri": f"{base}/keys", "authorization_endpoint": f"{base}/auth",
                           "token_endpoint": f"{base}/token", "id_token_signing_alg_values_supported": ["RS256"],
                           "response_types_supported": ["code"], "subject_types_supported": ["public"]})
        data = body.encode() if self.path.endswith("/.well-known/openid-configuration") else b'{"keys": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def oidc_provider():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discovery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- value sources in auth types nobody marks sensitive -------------------------------

def test_source_values_in_any_auth_type_never_print_and_write_only_fields_settle(
        run_cli, vault_env, unique, tmp_path, root, oidc_provider):
    approle, oidc = unique("approle"), unique("oidc")
    env = {"OIDC_SECRET": hostile("oidc"), "OIDC_CLIENT": "client " + hostile("id").replace("\n", " "),
           "ROLE_ID": "1000"}
    spec_path = tmp_path / "spec.yaml"
    spec = {
        "version": 1, "vault": {"record": {"path": unique("record")}},
        "auth": {
            approle: {"type": "approle", "roles": {"app": {"role_id": {"env": "ROLE_ID"},
                                                           "token_policies": ["default"]}}},
            # oidc_client_secret is write-only (never read back); the client id
            # is read back, and sensitive only because it came from a source.
            oidc: {"type": "oidc", "config": {"oidc_discovery_url": oidc_provider,
                                               "oidc_client_id": {"env": "OIDC_CLIENT"},
                                               "oidc_client_secret": {"env": "OIDC_SECRET"}}},
        },
    }
    spec_path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    outputs, texts = [], []

    def run(*args, expect=0):
        result = run_cli(list(args), env={**vault_env, **env})
        assert result.exception is None, result
        assert result.exit_code == expect, str(result)
        outputs.append(result.output)
        return result

    run("validate", str(spec_path))
    texts.append(run("plan", str(spec_path), "--detailed-exitcode", expect=2).output)
    markdown = run("plan", str(spec_path), "--format", "markdown").output
    document = json.loads(run("plan", str(spec_path), "--format", "json").stdout)
    after = {c["address"]: c["after"] for c in document["changes"]}
    # Masked by construction: every field from a source, whatever the type.
    assert after[f"oidc_config.{oidc}"]["oidc_client_secret"] == "(sensitive)"
    assert after[f"oidc_config.{oidc}"]["oidc_client_id"] == "(sensitive)"
    assert after[f"oidc_config.{oidc}"]["oidc_discovery_url"] == oidc_provider
    assert after[f"approle_role.{approle}/app"]["role_id"] == "(sensitive)"
    assert after[f"approle_role.{approle}/app"]["token_policies"] == ["default"]
    assert "+ role_id: (sensitive value)" in markdown and "+ oidc_client_secret: (sensitive value)" in markdown

    plan_file = tmp_path / "reviewed.plan"
    run("plan", str(spec_path), "--out", str(plan_file))
    texts.append(run("apply", str(plan_file)).output)
    assert root.read(f"auth/{approle}/role/app/role-id")["data"]["role_id"] == "1000"
    assert root.read(f"auth/{oidc}/config")["data"]["oidc_client_id"] == env["OIDC_CLIENT"]

    # Vault never returns role_id or oidc_client_secret: the record's
    # fingerprints say they are unchanged, so the next plan is empty.
    second = run("plan", str(spec_path), "--detailed-exitcode")
    assert "No changes" in second.stdout, str(second)
    record = recorded_objects(root, spec["vault"]["record"]["path"])
    prints = record[f"oidc_config.{oidc}"]["fingerprints"]
    assert set(prints) == {"oidc_client_secret", "oidc_client_id"}, record
    assert all(p.startswith("hmac-sha256:") for p in prints.values())
    assert set(record[f"approle_role.{approle}/app"]["fingerprints"]) == {"role_id"}
    # Nothing from a source reaches the unkeyed state fingerprint either.
    assert "oidc_client_id" not in record[f"oidc_config.{oidc}"]["state"]["fields"]

    # A changed secret is planned (masked), applied once and then settles.
    env["OIDC_SECRET"] = hostile("rotated")
    changed = run("plan", str(spec_path), "--detailed-exitcode", expect=2)
    texts.append(changed.output)
    assert f"~ oidc_config.{oidc}" in changed.stdout
    assert "oidc_client_secret : (sensitive value changed)" in changed.stdout
    assert "oidc_client_id" not in changed.stdout and f"approle_role.{approle}" not in changed.stdout
    texts.append(run("apply", str(spec_path), "--auto-approve").output)
    assert "No changes" in run("plan", str(spec_path), "--detailed-exitcode").stdout

    # Removed from the spec, the objects are known only from the record: the
    # fields it fingerprints stay masked in the plan that deletes them.
    del spec["auth"][oidc], spec["auth"][approle]
    spec_path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    removal = json.loads(run("plan", str(spec_path), "--format", "json", "--allow-destroy").stdout)
    before = {c["address"]: c["before"] for c in removal["changes"]}
    assert before[f"oidc_config.{oidc}"].get("oidc_client_id", "(sensitive)") == "(sensitive)", before
    assert f"auth_method.{oidc}" in before and f"approle_role.{approle}/app" in before
    texts.append(run("plan", str(spec_path), "--allow-destroy").output)
    run("plan", str(spec_path), "--allow-destroy", "--format", "markdown")

    leaks = [env["OIDC_SECRET"], env["OIDC_CLIENT"], hostile("x")[:30], vault_env["VAULT_TOKEN"]]
    for output in outputs:
        assert_nothing_leaks(output, leaks, "the output")
    for text in texts:
        # Renderers mask by construction; the redactor's mask would mean some
        # path printed a value and the safety net caught it.
        assert "(sensitive)" not in text, text
    assert_nothing_leaks(plan_file.read_text(encoding="utf-8"), leaks, "the saved plan file")
    assert_nothing_leaks(json.dumps(record, ensure_ascii=False), leaks, "the ownership record")


# -- the redactor -------------------------------------------------------------------

def test_redactor_catches_escaped_forms_but_never_short_or_common_strings():
    from vaultform import redact

    secret = hostile("redact")
    for value in (secret, "1000", "1", "root", "password", "default"):
        redact.register(value)
    text = ("Plan: 1000 to add, 1 to change. reading /root/.vault-token; token_policies = [\"default\"]; "
            "password : (sensitive value changed)")
    assert redact.redact(text) == text
    for form in every_form(secret):
        assert redact.redact(f"error: {form}!") == "error: (sensitive)!", form
    # A line of a multi-line secret (a PEM body, say) quoted alone.
    assert redact.redact(f"x {secret.splitlines()[1]} y") == "x (sensitive) y"


def test_renderers_receive_only_placeholders():
    """A renderer cannot print what it never gets, whatever checks it forgets."""
    from vaultform.kinds.base import Kind
    from vaultform.model import CREATE, UPDATE, Change, FieldChange, Plan, Resource
    from vaultform.render.formats import FORMATS, render_plan_as
    from vaultform.render.masking import displayable
    from vaultform.values import Secret

    class Forgetful(Kind):
        name = "forgetful"  # declares nothing sensitive

    secret = hostile("render")
    res = Resource(kind=Forgetful(), address="forgetful.a", id="a", desired={"plain": "ok", "key": Secret(secret)})
    other = Resource(kind=Forgetful(), address="forgetful.b", id="b", desired={"key": Secret(secret)})
    plan = Plan(changes=[Change(CREATE, res), Change(UPDATE, other, fields=[FieldChange("key", "old-" + secret,
                                                                                          Secret(secret))])])
    assert repr(Secret(secret)) == "Secret('(sensitive)')"
    safe = displayable(plan)
    assert_nothing_leaks(repr(safe), [secret], "the plan renderers receive")
    assert safe.changes[0].resource.desired["plain"] == "ok"
    for output_format in FORMATS:
        assert_nothing_leaks(render_plan_as(output_format, plan, "http://127.0.0.1:1"), [secret], output_format)


# -- tokens -------------------------------------------------------------------------

def test_a_token_with_a_trailing_newline_is_used_without_it(run_cli, vault_env, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\npolicies:\n  p: 'path \"a/*\" { capabilities = [\"read\"] }'\n")
    token = vault_env["VAULT_TOKEN"]
    result = run_cli(["plan", str(spec)], env={**vault_env, "VAULT_TOKEN": f" {token}\r\n"})
    assert result.exit_code == 0 and "policy.p" in result.stdout, str(result)
    (Path(vault_env["HOME"]) / ".vault-token").write_text(token + "\n")
    result = run_cli(["plan", str(spec)], env={**vault_env, "VAULT_TOKEN": None})
    assert result.exit_code == 0 and "policy.p" in result.stdout, str(result)


@pytest.mark.parametrize("bad", ["\x1b[2J", "\x00", "\x7f", " inner space", "\u00e9", "\nsecond-line"])
@pytest.mark.parametrize("where", ["VAULT_TOKEN", "BAO_TOKEN", "file"])
def test_a_token_with_an_illegal_character_is_refused_naming_its_source(run_cli, vault_env, tmp_path, bad, where):
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\npolicies:\n  p: 'path \"a/*\" { capabilities = [\"read\"] }'\n")
    token = "hvs." + secrets.token_hex(12)
    broken = token[:10] + bad + token[10:]
    env = {**vault_env, "VAULT_TOKEN": None}
    if where == "file":
        (Path(vault_env["HOME"]) / ".vault-token").write_text(broken)
        source = ".vault-token"
    elif "\x00" in broken:
        pytest.skip("an environment variable cannot hold NUL")
    else:
        env[where] = broken
        source = where
    result = run_cli(["plan", str(spec)], env=env)
    assert result.exit_code == 1 and result.exception is None, str(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and source in lines[0] and "Traceback" not in result.stderr, str(result)
    assert_nothing_leaks(result.output, [token[:10], token[10:]], "the error")


def test_a_token_equal_to_a_common_word_garbles_nothing(run_cli, tmp_path):
    """The dev server's token `root` and a secret `1000`: printed paths and
    numbers that merely equal them stay as they are."""
    with BaoDevServer(root_token="root") as server:
        spec = tmp_path / "spec.yaml"
        spec.write_text(textwrap.dedent("""\
            version: 1
            policies:
              root-reader: |
                path "secret/data/root/1000/*" { capabilities = ["read"] }
            secrets:
              secret/port:
                port: {env: PORT}
                one: {env: ONE}
            """))
        env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": "root", "HOME": str(tmp_path), "PORT": "1000",
               "ONE": "1", **{name: None for name in ("VAULT_NAMESPACE", "VAULT_CACERT", "VAULT_SKIP_VERIFY",
                                                      "BAO_ADDR", "BAO_TOKEN")}}
        plan = run_cli(["plan", str(spec)], env=env)
        assert plan.exit_code == 0, str(plan)
        assert 'secret/data/root/1000/*' in plan.stdout and "policy.root-reader" in plan.stdout, str(plan)
        assert "port = (sensitive value)" in plan.stdout and "one  = (sensitive value)" in plan.stdout
        assert "(sensitive)" not in plan.output, str(plan)
        applied = run_cli(["apply", str(spec), "--auto-approve"], env=env)
        assert applied.exit_code == 0 and "(sensitive)" not in applied.output, str(applied)
        bad = run_cli(["plan", str(spec)], env={**env, "VAULT_TOKEN": "root\x01"})
        assert bad.exit_code == 1 and "VAULT_TOKEN" in bad.stderr and "root" not in bad.stderr.replace(
            "VAULT_TOKEN", ""), str(bad)


# -- the environment of processes vaultform starts ------------------------------------

def test_a_started_bao_node_holds_no_token_and_no_source_variable(workdir, tmp_path):
    port = free_port_run(2)
    (workdir / "spec.yaml").write_text(textwrap.dedent(f"""\
        version: 1
        cluster:
          provider: local
          nodes: 1
          listen: 127.0.0.1:{port}
          data_dir: data
          init: {{key_shares: 1, key_threshold: 1, keys_file: data/keys.json}}
        secrets_engines:
          secret: {{type: kv, options: {{version: "2"}}}}
        secrets:
          secret/app:
            password: {{env: APP_PASSWORD}}
            other: {{env: APP_OTHER}}
        """))
    values = {"APP_PASSWORD": hostile("app"), "APP_OTHER": "short1", "VAULT_TOKEN": "hvs." + secrets.token_hex(16),
              "BAO_TOKEN": "hvs." + secrets.token_hex(16), "VAULTFORM_TEST_MARKER": "kept"}
    env = clean_env(tmp_path / "home", **values)
    (tmp_path / "home").mkdir()
    t = Transcript()
    result = t.run("apply", "spec.yaml", "--auto-approve", env={**env, "VAULT_TOKEN": ""}, cwd=workdir)
    # The first apply initialises the cluster and uses its root token; the
    # exported token is set only to see that it does not reach the node.
    assert result.returncode == 0, result
    pids = bao_pids_under(workdir)
    assert pids, "no bao node is running"
    # Restart the node with every variable set, as a later apply would.
    for pid in pids:
        os.kill(pid, 9)
    result = t.run("apply", "spec.yaml", "--auto-approve", env={**env, "VAULT_TOKEN": values["VAULT_TOKEN"]},
                   cwd=workdir)
    pids = bao_pids_under(workdir)
    assert pids, result
    for pid in pids:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        names = {entry.split(b"=", 1)[0].decode() for entry in environ if entry}
        assert "VAULTFORM_TEST_MARKER" in names  # the environment was really read
        assert not names & {"VAULT_TOKEN", "BAO_TOKEN", "APP_PASSWORD", "APP_OTHER"}, names
        raw = b"\0".join(environ)
        for value in (values["APP_PASSWORD"], values["VAULT_TOKEN"], values["BAO_TOKEN"], "short1"):
            assert value.encode() not in raw


def test_a_fingerprint_recorded_before_binding_still_matches_and_is_kept(run_cli, vault_env, unique, tmp_path, root):
    """Records written by earlier versions hash the bare reviewer JWT: such an
    entry is still "unchanged" and the record is not rewritten for it."""
    import hashlib
    import hmac

    from tests.support.record import rewrite_entry
    from tests.test_kinds_contract import ca_pem

    mount, record_path = unique("k8s"), unique("record")
    jwt = "eyJreviewer." + secrets.token_hex(8)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "vault": {"record": {"path": record_path}}, "auth": {mount: {
        "type": "kubernetes", "config": {"kubernetes_host": "https://k8s.example:6443",
                                         "kubernetes_ca_cert": {"file": "ca.crt"},
                                         "token_reviewer_jwt": {"env": "REVIEWER_JWT"}}}}}))
    (tmp_path / "ca.crt").write_text(ca_pem(), encoding="utf-8")
    env = {**vault_env, "REVIEWER_JWT": jwt}
    assert run_cli(["apply", str(spec), "--auto-approve"], env=env).exit_code == 0
    address = f"kubernetes_config.{mount}"
    entry = recorded_objects(root, record_path)[address]
    key = bytes.fromhex(root.secrets.kv.v2.read_secret_version(
        path=f"{record_path}-fingerprint-key", mount_point="vaultform", raise_on_deleted_version=True
    )["data"]["data"]["key"])
    legacy = "hmac-sha256:" + hmac.new(key, jwt.encode(), hashlib.sha256).hexdigest()
    assert entry["fingerprints"]["token_reviewer_jwt"] != legacy  # bound to the address and field now
    rewrite_entry(root, address, {**entry, "fingerprints": {"token_reviewer_jwt": legacy}}, path=record_path)
    result = run_cli(["plan", str(spec), "--detailed-exitcode"], env=env)
    assert result.exit_code == 0 and "No changes" in result.stdout and "record" not in result.stdout, str(result)
    changed = run_cli(["plan", str(spec), "--detailed-exitcode"], env={**env, "REVIEWER_JWT": jwt + "x"})
    assert changed.exit_code == 2 and "token_reviewer_jwt : (sensitive value changed)" in changed.stdout, str(changed)


def test_every_subprocess_vaultform_starts_gets_the_scrubbed_environment():
    """One helper makes every child's environment: a new subprocess call
    without it would hand the child the caller's tokens."""
    import ast

    import vaultform

    starters = {"run", "Popen", "call", "check_call", "check_output"}
    found = []
    for path in Path(vaultform.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in starters
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "subprocess"):
                env = next((k.value for k in node.keywords if k.arg == "env"), None)
                ok = isinstance(env, ast.Call) and getattr(env.func, "id", None) == "child_environment"
                found.append((f"{path.name}:{node.lineno}", ok))
    assert len(found) >= 2, found  # the bao nodes and helm
    assert all(ok for _, ok in found), found


def test_child_environment_drops_tokens_source_variables_and_secret_values(monkeypatch):
    from vaultform import childenv, redact

    secret = hostile("child")
    monkeypatch.setenv("VAULT_TOKEN", "root")
    monkeypatch.setenv("BAO_TOKEN", "t")
    monkeypatch.setenv("NAMED_BY_SPEC", "1")
    monkeypatch.setenv("COPY_OF_A_SECRET", secret)
    monkeypatch.setenv("HARMLESS", "kept")
    childenv.withhold({"NAMED_BY_SPEC"})
    redact.register(secret)
    env = childenv.child_environment()
    assert env.get("HARMLESS") == "kept" and "PATH" in env
    assert not {"VAULT_TOKEN", "BAO_TOKEN", "NAMED_BY_SPEC", "COPY_OF_A_SECRET"} & set(env)
