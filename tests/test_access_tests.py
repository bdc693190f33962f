"""Access tests (`tests:`, `vaultform test`, `vaultform plan --test`) against real OpenBao.

The policy evaluator that `plan --test` relies on is judged by the server:
for random policies and paths it must answer exactly what OpenBao's
sys/capabilities answers for a token holding the same stored policies.
"""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path

import hvac
import pytest
import yaml

from tests.support.audit import AuditLog, file_audit_hcl
from tests.support.bao import BaoDevServer
from vaultform.acl_eval import ACL

# -- the evaluator against the server --------------------------------------------------------

SEGMENTS = ["a", "b", "ab", "c"]
ALL_CAPABILITIES = ["create", "read", "update", "delete", "list", "patch", "sudo", "scan", "deny"]

# Precedence cases from OpenBao's policy docs and acl.go, each with a path that tells the rules apart.
KNOWN_CASES = [
    ('path "secret/*" { capabilities = ["read"] }\npath "secret/foo" { capabilities = ["update"] }',
     ["secret/foo", "secret/foobar", "secret/foo/"]),
    ('path "secret/+/x" { capabilities = ["read"] }\npath "secret/a*" { capabilities = ["list"] }',
     ["secret/ab/x", "secret/b/x", "secret/a"]),
    ('path "secret/+/+/x" { capabilities = ["read"] }\npath "secret/a/+/x" { capabilities = ["update"] }',
     ["secret/a/b/x", "secret/b/b/x"]),
    ('path "secret/+" { capabilities = ["read"] }\npath "secret/*" { capabilities = ["list"] }',
     ["secret/a", "secret/a/b", "secret/"]),
    ('path "secret/data/x" { capabilities = [] }\npath "secret/data/*" { capabilities = ["read"] }',
     ["secret/data/x", "secret/data/y"]),
    ('path "secret/metadata/app" { capabilities = ["list"] }', ["secret/metadata/app/", "secret/metadata/app"]),
    ('path "/leading/slash" { capabilities = ["read"] }', ["leading/slash", "/leading/slash"]),
    ('path "old/style" { policy = "write" }', ["old/style"]),
    ('path "kv/*" { capabilities = ["read", "deny"] }\npath "kv/x" { capabilities = ["read"] }', ["kv/x", "kv/y"]),
    ('path "t/{{identity.entity.id}}/*" { capabilities = ["read"] }', ["t/x/y"]),
    ('path "exp/old" {\n capabilities = ["read"]\n expiration = "2020-01-01T00:00:00Z"\n}\n'
     'path "exp/new" {\n capabilities = ["read"]\n expiration = "2999-01-01T00:00:00Z"\n}', ["exp/old", "exp/new"]),
    ('path "+" { capabilities = ["read"] }\npath "*" { capabilities = ["list"] }', ["x", "x/y", "y/"]),
    ('path "a/+/b*" { capabilities = ["read"] }\npath "a/+/+" { capabilities = ["list"] }',
     ["a/x/bc", "a/x/b", "a/x/c", "a/x/b/d"]),
    # Escapes in a path string are read by OpenBao's HCL (\\ is one backslash,
    # \t a tab, \u00e9 an é).
    ('path "esc/x\\\\|y" { capabilities = ["read"] }\npath "esc/t\\ty" { capabilities = ["update"] }\n'
     'path "esc/\\u00e9\\"q" { capabilities = ["list"] }\npath "esc/${ab}\\tz" { capabilities = ["patch"] }',
     ["esc/x\\|y", "esc/x|y", "esc/x\\\\|y", "esc/t\ty", "esc/t\\ty", "esc/\u00e9\"q", "esc/\\u00e9\\\"q",
      "esc/${ab}\tz", "esc/${ab}\\tz"]),
]


def _rule_path(r: random.Random) -> str:
    path = "/".join(r.choice(SEGMENTS + ["+"]) for _ in range(r.randint(1, 4)))
    roll = r.random()
    if roll < 0.3:
        path += "*"
    elif roll < 0.4:
        path += "/*"
    elif roll < 0.45:
        path += "/"
    return path.replace("+*", "+/*")  # Vault refuses "+*"


def _policy(r: random.Random) -> str:
    blocks = []
    for _ in range(r.randint(1, 6)):
        capabilities = ", ".join(f'"{c}"' for c in r.sample(ALL_CAPABILITIES, r.randint(0, 3)))
        blocks.append(f'path "{_rule_path(r)}" {{ capabilities = [{capabilities}] }}')
    return "\n".join(blocks)


def _request_paths(r: random.Random, n: int = 40) -> list:
    paths = set()
    for _ in range(n):
        path = "/".join(r.choice(SEGMENTS) for _ in range(r.randint(1, 5)))
        paths.add(path + "/" if r.random() < 0.2 else path)
    return sorted(paths)


def _server_answer(root, policies: dict, paths: list) -> dict:
    for name, text in policies.items():
        root.sys.create_or_update_policy(name, text)
    accessor = root.write("auth/token/create-orphan", policies=list(policies), ttl="60s",
                          no_default_policy=True)["auth"]["accessor"]
    try:
        return root.write("sys/capabilities-accessor", accessor=accessor, paths=paths)["data"]
    finally:
        root.write("auth/token/revoke-accessor", accessor=accessor)


def test_evaluator_agrees_with_openbao(root, unique):
    """300 random policy sets (1-3 policies, exact, glob, + and deny rules) and
    ~35 paths each, plus the known precedence cases: every answer must be the
    server's. Measured while writing it: 0 disagreements in 660 rounds."""
    r = random.Random(20261202)
    disagreements, asked = [], 0
    cases = [({unique("known"): text}, paths) for text, paths in KNOWN_CASES]
    for _ in range(300):
        cases.append(({unique("rand"): _policy(r) for _ in range(r.randint(1, 3))}, _request_paths(r)))
    for policies, paths in cases:
        server = _server_answer(root, policies, paths)
        mine = ACL(policies.items())
        for path in paths:
            asked += 1
            if mine.capabilities(path) != sorted(server[path]):
                disagreements.append((policies, path, server[path], mine.capabilities(path)))
    assert asked > 8000
    assert not disagreements, disagreements[:3]


def test_evaluator_can_disagree():
    """The comparison above can fail: a evaluator that ignored deny would."""
    acl = ACL([("p", 'path "kv/*" { capabilities = ["read"] }\npath "kv/x" { capabilities = ["deny"] }')])
    assert acl.capabilities("kv/x") == ["deny"] and acl.capabilities("kv/y") == ["read"]
    assert ACL([("root", "")]).capabilities("anything") == ["root"]
    assert ACL([]).capabilities("anything") == ["deny"]


# -- specs -----------------------------------------------------------------------------------------

def webapp_spec(mount: str, policy: str, shared: bool = True, tests=None) -> dict:
    rules = [f'path "{mount}/data/webapp/*" {{\n  capabilities = ["read"]\n}}']
    if shared:
        rules.append(f'path "{mount}/data/shared" {{\n  capabilities = ["read"]\n}}')
    return {
        "version": 1,
        # Its own ownership record: the session server's default one holds other tests' objects.
        "vault": {"record": {"path": f"access-{mount}"}},
        "secrets_engines": {mount: {"type": "kv", "options": {"version": "2"}}},
        "auth": {f"{mount}-k8s": {"type": "kubernetes", "roles": {"webapp": {
            "bound_service_account_names": ["webapp"], "bound_service_account_namespaces": ["default"],
            "token_policies": [policy]}}}},
        "policies": {policy: "\n".join(rules) + "\n"},
        "tests": tests if tests is not None else [{
            "name": "webapp reads only its secret",
            "as": {"auth": f"{mount}-k8s", "role": "webapp"},
            "can": {"read": [f"{mount}/data/webapp/config"]},
            "cannot": {"read": [f"{mount}/data/other"], "update": [f"{mount}/data/webapp/config"]},
        }],
    }


def write_spec(tmp_path: Path, spec: dict, name: str = "vaultform.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return str(path)


@pytest.fixture
def applied(run_cli, vault_env, tmp_path, unique):
    """A webapp setup applied to the session server: (mount, policy, spec path)."""
    mount, policy = unique("kv"), unique("webapp")
    spec = write_spec(tmp_path, webapp_spec(mount, policy))
    result = run_cli(["apply", spec, "--auto-approve"], env=vault_env)
    assert result.exit_code == 0, str(result)
    return mount, policy, spec


def accessors(root) -> set:
    return set(root.list("auth/token/accessors")["data"]["keys"])


# -- vaultform test ---------------------------------------------------------------------------------

def test_passing_tests_exit_0_with_a_table(run_cli, vault_env, applied, root):
    mount, policy, spec = applied
    before = accessors(root)
    result = run_cli(["test", spec], env=vault_env)
    assert result.exit_code == 0, str(result)
    assert "checked by Vault" in result.stdout and "1 passed, 0 failed" in result.stdout, str(result)
    assert f"can read {mount}/data/webapp/config" in result.stdout
    assert "FAIL" not in result.stdout
    # Every test token is revoked: Vault knows no accessor it did not know before.
    assert accessors(root) == before


def test_a_failing_assertion_exits_1_and_says_which(run_cli, vault_env, applied, tmp_path):
    mount, policy, spec_path = applied
    spec = yaml.safe_load(Path(spec_path).read_text())
    spec["tests"].append({"name": "webapp writes its secret", "as": {"auth": f"{mount}-k8s", "role": "webapp"},
                          "can": {"update": [f"{mount}/data/webapp/config"]}})
    spec["tests"].append({"name": "literal policies", "as": {"policies": [policy]},
                          "cannot": {"read": [f"{mount}/data/shared"]}})
    result = run_cli(["test", write_spec(tmp_path, spec, "failing.yaml"), "--format", "json"], env=vault_env)
    assert result.exit_code == 1, str(result)
    document = json.loads(result.stdout)
    by_name = {t["name"]: t for t in document["tests"]}
    assert document["checked_by"] == "vault" and document["summary"] == {"passed": 1, "failed": 2}
    assert by_name["webapp reads only its secret"]["passed"] is True
    assert by_name["webapp reads only its secret"]["policies"] == [policy, "default"]
    failed = by_name["webapp writes its secret"]
    assert failed["passed"] is False and failed["checks"][0]["capabilities"] == ["read"]
    assert by_name["literal policies"]["policies"] == [policy]  # literal: no default added
    assert by_name["literal policies"]["checks"][0]["capabilities"] == ["read"]
    assert failed["line"] > 0 and failed["file"].endswith("failing.yaml")


def test_tokens_are_revoked_and_carry_exactly_the_policies(vault_env, applied, root):
    from vaultform.access_tests import TokenChecker
    from vaultform.connection import VaultAPI

    mount, policy, _ = applied
    api = VaultAPI(vault_env["VAULT_ADDR"], token=vault_env["VAULT_TOKEN"])
    checker = TokenChecker(api)
    assert checker.capabilities([policy], [f"{mount}/data/webapp/a"]) == {f"{mount}/data/webapp/a": ["read"]}
    assert checker.capabilities([policy, "default"], ["sys/capabilities-self"]) == {
        "sys/capabilities-self": ["update"]}
    # Never minted: no policies (Vault would give the token its parent's: root) or root itself.
    assert checker.capabilities([], ["x"]) == {"x": ["deny"]}
    assert checker.capabilities(["root"], ["x"]) == {"x": ["root"]}
    assert len(checker.minted) == 2
    for accessor in checker.minted:
        with pytest.raises(hvac.exceptions.InvalidRequest, match="invalid accessor"):
            root.write("auth/token/lookup-accessor", accessor=accessor)


@pytest.fixture
def audited(tmp_path):
    log_path = tmp_path / "audit.log"
    with BaoDevServer(config_hcl=file_audit_hcl(str(log_path), "access")) as server:
        assert "access/" in server.client().sys.list_enabled_audit_devices()["data"]
        yield server, AuditLog(str(log_path))


def test_test_writes_nothing_but_its_tokens(audited, run_cli, tmp_path, unique):
    """Judged by the audit log: per identity one token made, asked about and revoked; nothing else."""
    server, log = audited
    env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(tmp_path),
           "VAULT_NAMESPACE": None, "BAO_ADDR": None, "BAO_TOKEN": None}
    mount, policy = unique("kv"), unique("webapp")
    spec = webapp_spec(mount, policy)
    spec["tests"].append({"name": "same identity again", "as": {"auth": f"{mount}-k8s", "role": "webapp"},
                          "cannot": {"delete": [f"{mount}/data/webapp/config"]}})
    spec["tests"].append({"name": "literal", "as": {"policies": [policy]}, "can": {"read": [f"{mount}/data/shared"]}})
    path = write_spec(tmp_path, spec)
    assert run_cli(["apply", path, "--auto-approve"], env=env).exit_code == 0
    mark = log.mark()
    result = run_cli(["test", path], env=env)
    assert result.exit_code == 0, str(result)
    writes = [str(w) for w in log.writes_since(mark)]
    one_token = ["update auth/token/create-orphan", "update sys/capabilities-accessor",
                 "update auth/token/revoke-accessor"]
    # Two identities (the role, twice, shares one token; the literal policies differ: no default).
    assert writes == one_token * 2, writes
    assert server.root_token not in result.output


@pytest.fixture
def raw_audited(tmp_path):
    """A dev server whose audit log keeps values in clear (log_raw): the test
    tokens' requests and the tokens themselves can be read back from it."""
    log_path = tmp_path / "raw-audit.log"
    config = f'audit "file" "raw" {{\n  options {{\n    file_path = {json.dumps(str(log_path))}\n' \
             '    log_raw = "true"\n  }\n}\n'
    with BaoDevServer(config_hcl=config) as server:
        assert "raw/" in server.client().sys.list_enabled_audit_devices()["data"]
        yield server, log_path


def test_test_tokens_are_exactly_asked_for_and_never_shown(raw_audited, run_cli, tmp_path, unique):
    server, log_path = raw_audited
    env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(tmp_path),
           "VAULT_NAMESPACE": None, "BAO_ADDR": None, "BAO_TOKEN": None}
    mount, policy = unique("kv"), unique("webapp")
    path = write_spec(tmp_path, webapp_spec(mount, policy))
    assert run_cli(["apply", path, "--auto-approve"], env=env).exit_code == 0
    outputs = [run_cli(["test", path, "--format", fmt], env=env) for fmt in ("text", "json", "markdown")]
    assert all(r.exit_code == 0 for r in outputs), [str(r) for r in outputs]
    entries = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    created = [e for e in entries if e["type"] == "response" and e["request"]["path"] == "auth/token/create-orphan"]
    assert len(created) == 3
    for entry in created:
        body = entry["request"]["data"]
        assert body["policies"] == [policy, "default"] and body["no_default_policy"] is False
        assert (body["ttl"], body["explicit_max_ttl"], body["renewable"]) == ("60s", "60s", False)
        token = entry["response"]["auth"]["client_token"]
        assert token.startswith("s.") and len(token) > 20  # in clear: log_raw works, the scan below can fail
        assert entry["response"]["auth"]["token_policies"] == sorted([policy, "default"])
        assert all(token not in r.output for r in outputs)


def test_entity_identity_resolves_policies_and_groups(run_cli, vault_env, applied, root, unique, tmp_path):
    mount, policy, spec_path = applied
    alice = unique("alice")
    entity_id = root.write("identity/entity", name=alice, policies=[])["data"]["id"]
    inner = root.write("identity/group", name=unique("g"), policies=[policy], member_entity_ids=[entity_id])
    root.write("identity/group", name=unique("g"), policies=["nothing-here"],
               member_group_ids=[inner["data"]["id"]])
    spec = yaml.safe_load(Path(spec_path).read_text())
    spec["tests"] = [{"name": "alice via her group", "as": {"entity": alice},
                      "can": {"read": [f"{mount}/data/webapp/config"]}},
                     {"name": "nobody", "as": {"entity": unique("nobody")}, "can": {"read": ["x"]}}]
    result = run_cli(["test", write_spec(tmp_path, spec, "entity.yaml"), "--format", "json"], env=vault_env)
    assert result.exit_code == 1, str(result)
    alice_result, nobody = json.loads(result.stdout)["tests"]
    assert alice_result["passed"] is True
    assert sorted(alice_result["policies"]) == sorted([policy, "nothing-here", "default"])
    assert nobody["passed"] is False and "does not exist in Vault" in nobody["error"]


def test_entity_policies_from_an_identity_section():
    from vaultform.access_tests import CannotCheck, entity_policies_from_spec

    identity = {"entities": {"alice": {"policies": ["Own"]}, "bob": None, "eve": {"disabled": True}},
                "groups": {"devs": {"policies": ["dev"], "members": ["alice"]},
                           "eng": {"policies": ["eng"], "member_groups": ["devs"]},
                           "ops": {"policies": ["ops"], "members": ["bob"]}, "empty": None}}
    assert entity_policies_from_spec(identity, "alice") == ["own", "dev", "eng", "default"]
    assert entity_policies_from_spec(identity, "bob") == ["ops", "default"]
    assert entity_policies_from_spec(identity, "carol") is None
    with pytest.raises(CannotCheck, match="disabled"):
        entity_policies_from_spec(identity, "eve")


def test_plan_test_resolves_an_entity_from_the_identity_section(run_cli, vault_env, applied, tmp_path, unique):
    mount, policy, spec_path = applied
    alice, devs, eng = unique("alice"), unique("devs"), unique("eng")
    spec = yaml.safe_load(Path(spec_path).read_text())
    spec["identity"] = {"entities": {alice: {"policies": []}},
                        "groups": {devs: {"policies": [policy], "members": [alice]},
                                   eng: {"policies": ["eng-extra"], "member_groups": [devs]}}}
    spec["tests"] = [{"name": "alice through her groups", "as": {"entity": alice},
                      "can": {"read": [f"{mount}/data/webapp/config"]}}]
    path = write_spec(tmp_path, spec, "identity.yaml")

    planned = run_cli(["plan", path, "--test", "--format", "json"], env=vault_env)
    assert planned.exit_code == 0, str(planned)
    test = json.loads(planned.stdout)["access_tests"]["tests"][0]
    assert test["passed"] is True and sorted(test["policies"]) == sorted([policy, "eng-extra", "default"])
    assert "does not exist in Vault" in test["before_error"]  # not applied yet
    assert test["checks"][0]["change"] is None  # unknown before: no sentence claimed

    assert run_cli(["apply", path, "--auto-approve"], env=vault_env).exit_code == 0
    live = run_cli(["test", path, "--format", "json"], env=vault_env)
    assert live.exit_code == 0, str(live)
    assert sorted(json.loads(live.stdout)["tests"][0]["policies"]) == sorted([policy, "eng-extra", "default"])


def test_a_missing_role_fails_its_test_clearly(run_cli, vault_env, applied, tmp_path):
    mount, policy, spec_path = applied
    spec = yaml.safe_load(Path(spec_path).read_text())
    spec["tests"] = [{"name": "ghost", "as": {"auth": f"{mount}-k8s", "role": "ghost"}, "can": {"read": ["x"]}},
                     {"name": "no mount", "as": {"auth": "nowhere", "role": "r"}, "can": {"read": ["x"]}}]
    result = run_cli(["test", write_spec(tmp_path, spec, "ghost.yaml")], env=vault_env)
    assert result.exit_code == 1, str(result)
    assert f"ghost: role ghost does not exist (auth/{mount}-k8s/role/ghost)" in result.stdout, str(result)
    assert "no mount: no auth method is enabled at auth/nowhere/" in result.stdout
    assert "ghost.yaml:" in result.stdout and "Traceback" not in result.output


# -- bad assertions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bad_test, where, message", [
    ({"name": "typo", "as": {"policies": ["a"]}, "can": {"reed": ["x"]}}, "tests[0].can.reed",
     "did you mean 'read'?"),
    ({"name": "no checks", "as": {"policies": ["a"]}}, "tests[0]", "missing required field 'can'"),
    ({"name": "half a role", "as": {"auth": "kubernetes"}, "can": {"read": ["x"]}}, "tests[0].as",
     "missing required field 'role'"),
    ({"name": "two identities", "as": {"policies": ["a"], "entity": "e"}, "can": {"read": ["x"]}},
     "tests[0].as.entity", "unknown field"),
    ({"name": "empty", "as": {"policies": ["a"]}, "cannot": {"read": []}}, "tests[0].cannot.read",
     "violates minItems 1"),
])
def test_a_bad_assertion_is_one_located_line(run_cli, tmp_path, bad_test, where, message):
    spec = write_spec(tmp_path, {"version": 1, "tests": [bad_test]})
    for args in (["test", spec], ["validate", spec]):
        result = run_cli(args, env={"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": None})
        assert result.exit_code == 1, str(result)
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert errors and all(f"vaultform.yaml:" in line for line in errors), str(result)
        assert any(where in line and message in line for line in errors), str(result)
        assert "Traceback" not in result.output


def test_no_tests_section_is_an_error(run_cli, vault_env, tmp_path):
    result = run_cli(["test", write_spec(tmp_path, {"version": 1})], env=vault_env)
    assert result.exit_code == 1 and "no `tests:` section" in result.stderr, str(result)


# -- plan --test --------------------------------------------------------------------------------------

def test_plan_test_shows_a_change_in_access_before_apply(run_cli, vault_env, applied, tmp_path, root):
    mount, policy, spec_path = applied
    spec = webapp_spec(mount, policy, shared=False, tests=[
        {"name": "webapp reads the shared secret", "as": {"auth": f"{mount}-k8s", "role": "webapp"},
         "can": {"read": [f"{mount}/data/shared"]}},
        {"name": "webapp reads its own", "as": {"auth": f"{mount}-k8s", "role": "webapp"},
         "can": {"read": [f"{mount}/data/webapp/config"]}}])
    changed = write_spec(tmp_path, spec, "changed.yaml")
    stored = root.sys.read_policy(policy)["data"]["rules"]
    before = accessors(root)

    text = run_cli(["plan", changed, "--test"], env=vault_env)
    assert text.exit_code == 1, str(text)  # the shared-secret test fails after this plan
    sentence = f"after this change, role webapp (auth/{mount}-k8s) can no longer read {mount}/data/shared"
    assert f"~ policy.{policy}" in text.stdout and sentence in text.stdout, str(text)
    assert "1 passed, 1 failed" in text.stdout

    markdown = run_cli(["plan", changed, "--test", "--format", "markdown"], env=vault_env)
    assert markdown.exit_code == 1 and "### Access tests" in markdown.stdout, str(markdown)
    assert "can **no longer** read" in markdown.stdout and f"`{mount}/data/shared`" in markdown.stdout

    document = json.loads(run_cli(["plan", changed, "--test", "--format", "json"], env=vault_env).stdout)
    tests = document["access_tests"]
    assert tests["changes"] == [sentence] and tests["passed"] is False
    shared = tests["tests"][0]["checks"][0]
    assert (shared["before"], shared["after"], shared["change"]) == (["read"], ["deny"], "no longer")

    # A plan writes nothing, not even a test token; the policy is as it was.
    assert root.sys.read_policy(policy)["data"]["rules"] == stored and accessors(root) == before

    # Tests that pass after the plan exit 0, and --detailed-exitcode still says "changes".
    spec["tests"] = spec["tests"][1:] + [{"name": "shared is gone", "as": {"auth": f"{mount}-k8s", "role": "webapp"},
                                          "cannot": {"read": [f"{mount}/data/shared"]}}]
    passing = run_cli(["plan", write_spec(tmp_path, spec, "passing.yaml"), "--test", "--detailed-exitcode"],
                      env=vault_env)
    assert passing.exit_code == 2 and "2 passed, 0 failed" in passing.stdout, str(passing)


def test_plan_test_sees_a_role_losing_a_policy(run_cli, vault_env, applied, tmp_path):
    mount, policy, _ = applied
    spec = webapp_spec(mount, policy)
    spec["auth"][f"{mount}-k8s"]["roles"]["webapp"]["token_policies"] = []
    result = run_cli(["plan", write_spec(tmp_path, spec, "role.yaml"), "--test"], env=vault_env)
    assert result.exit_code == 1, str(result)
    assert f"can no longer read {mount}/data/webapp/config" in result.stdout, str(result)


# -- the planner token ------------------------------------------------------------------------------

def _token_with(root, name: str, hcl: str) -> str:
    root.sys.create_or_update_policy(name, hcl)
    return root.auth.token.create(policies=[name], no_default_policy=True, ttl="10m")["auth"]["client_token"]


def test_planner_token_evaluates_and_says_so(run_cli, vault_env, applied, root, tmp_path):
    """The planner policy cannot create tokens: `test` says so and evaluates
    the live policy texts, which planner-policy lets it read for the tests."""
    mount, policy, spec_path = applied
    spec = yaml.safe_load(Path(spec_path).read_text())
    spec["tests"].append({"name": "literal", "as": {"policies": [policy]},
                          "can": {"read": [f"{mount}/data/webapp/config"]}})
    path = write_spec(tmp_path, spec, "planner.yaml")
    hcl = run_cli(["planner-policy", path], env=vault_env)
    assert hcl.exit_code == 0, str(hcl)
    assert 'path "sys/policies/acl/default"' in hcl.stdout  # the role's token carries default
    env = {**vault_env, "VAULT_TOKEN": _token_with(root, f"{policy}-planner", hcl.stdout)}

    result = run_cli(["test", path, "--format", "json"], env=env)
    assert result.exit_code == 0, str(result)
    assert "may not create tokens" in result.stderr and "not Vault's answer" in result.stderr, str(result)
    document = json.loads(result.stdout)
    assert document["checked_by"] == "vaultform" and document["summary"] == {"passed": 2, "failed": 0}

    planned = run_cli(["plan", path, "--test", "--detailed-exitcode"], env=env)
    assert planned.exit_code == 0 and "2 passed, 0 failed" in planned.stdout, str(planned)


def test_a_token_that_cannot_read_a_policy_says_which(run_cli, vault_env, applied, root, tmp_path):
    mount, policy, spec_path = applied
    narrow = f'path "sys/auth" {{ capabilities = ["read"] }}\n' \
             f'path "auth/{mount}-k8s/role/webapp" {{ capabilities = ["read"] }}\n' \
             f'path "sys/policies/acl/{policy}" {{ capabilities = ["read"] }}\n'
    env = {**vault_env, "VAULT_TOKEN": _token_with(root, f"{policy}-narrow", narrow)}
    result = run_cli(["test", spec_path], env=env)
    assert result.exit_code == 1, str(result)
    # The role adds `default`, which this token may not read: said, not guessed.
    assert "may not read policy default (sys/policies/acl/default needs 'read')" in result.stdout, str(result)
    assert "Traceback" not in result.output


def test_plan_test_json_matches_the_published_schema(run_cli, vault_env, applied):
    import jsonschema

    from vaultform.schema import _load

    _, _, spec_path = applied
    result = run_cli(["plan", spec_path, "--test", "--format", "json"], env=vault_env)
    assert result.exit_code == 0, str(result)
    document = json.loads(result.stdout)
    assert document["access_tests"]["summary"] == {"passed": 1, "failed": 0}
    jsonschema.Draft202012Validator(_load("plan-output.schema.json")).validate(document)


def test_the_docs_example_is_a_valid_spec(run_cli, tmp_path):
    docs = (Path(__file__).resolve().parent.parent / "docs" / "access-tests.md").read_text(encoding="utf-8")
    example = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = tmp_path / "vaultform.yaml"
    spec.write_text("version: 1\n" + example, encoding="utf-8")
    result = run_cli(["validate", str(spec)])
    assert result.exit_code == 0, str(result)
