"""Access tests inside OpenBao namespaces: `as: {namespace: <name>, ...}`.

Against a real OpenBao whose audit log records every request: an identity
in a namespace is resolved there (its policies, userpass user, entity; the
root's objects of the same names are not seen), `vaultform test` makes each
test token in that namespace and revokes it (nothing else written), and
`plan --test` evaluates the policy texts the plan gives that namespace,
before the namespace even exists.
"""

from __future__ import annotations

import json
from pathlib import Path

import hvac
import pytest
import yaml

from tests.support.audit import AuditLog, file_audit_hcl
from tests.support.bao import BaoDevServer

NS = "team-a"
ONE_TOKEN = ["update auth/token/create-orphan", "update sys/capabilities-accessor",
             "update auth/token/revoke-accessor"]


@pytest.fixture
def audited(tmp_path):
    log_path = tmp_path / "audit.log"
    with BaoDevServer(config_hcl=file_audit_hcl(str(log_path), "access")) as server:
        yield server, AuditLog(str(log_path))


def spec_doc(ns_reader: str) -> dict:
    return {
        "version": 1,
        # The root has a policy of the same name granting something else:
        # a namespaced test must never see it.
        "policies": {"reader": 'path "kv/data/root-only" {\n  capabilities = ["read"]\n}\n'},
        "namespaces": {NS: {
            "secrets_engines": {"kv": {"type": "kv", "options": {"version": "2"}}},
            "policies": {"reader": ns_reader},
            "auth": {"people": {"type": "userpass", "users": {"bob": {
                "password": {"env": "BOB_PASSWORD"}, "token_policies": ["reader"]}}}},
            "identity": {"entities": {"carol": {"policies": ["reader"]}}},
        }},
        "tests": [
            {"name": "namespace policies", "as": {"namespace": NS, "policies": ["reader"]},
             "can": {"read": ["kv/data/app/config"]},
             "cannot": {"read": ["kv/data/root-only", "kv/data/other"], "update": ["kv/data/app/config"]}},
            {"name": "namespace user", "as": {"namespace": NS, "auth": "people", "role": "bob"},
             "can": {"read": ["kv/data/app/config"]}},
            {"name": "namespace entity", "as": {"namespace": NS, "entity": "carol"},
             "can": {"read": ["kv/data/app/config"]}},
            {"name": "the root's reader", "as": {"policies": ["reader"]},
             "can": {"read": ["kv/data/root-only"]}, "cannot": {"read": ["kv/data/app/config"]}},
        ],
    }


READS_APP = 'path "kv/data/app/*" {\n  capabilities = ["read"]\n}\n'


def write(tmp_path: Path, doc: dict, name: str = "spec.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return str(path)


def requests_with_namespace(log: AuditLog, mark: int) -> list:
    return [(f"{r['operation']} {r['path']}", (r.get("namespace") or {}).get("path", ""))
            for r in log.requests_since(mark) if r.get("operation") in ("create", "update", "delete")]


def test_namespaced_identities_live_and_planned(audited, run_cli, tmp_path):
    server, log = audited
    env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(tmp_path),
           "VAULT_NAMESPACE": None, "BAO_ADDR": None, "BAO_TOKEN": None, "BOB_PASSWORD": "bob-pw-123456"}
    spec = write(tmp_path, spec_doc(READS_APP))

    # Before the namespace exists: the plan's policy texts answer "after",
    # and "before" says the namespace is not there. Nothing is written.
    mark = log.mark()
    planned = run_cli(["plan", spec, "--test", "--format", "json"], env=env)
    assert planned.exit_code == 0, planned
    tests = json.loads(planned.stdout)["access_tests"]["tests"]
    assert [t["passed"] for t in tests] == [True, True, True, True], tests
    assert log.writes_since(mark) == []

    assert run_cli(["apply", spec, "--auto-approve"], env=env).exit_code == 0

    # Live: tokens made in the namespace (and the root's in the root), each
    # asked about and revoked there; nothing else written.
    mark = log.mark()
    result = run_cli(["test", spec], env=env)
    assert result.exit_code == 0, result
    assert "role bob (auth/people) in namespace team-a" in result.stdout, result
    writes = requests_with_namespace(log, mark)
    # In the namespace: the literal policies, then bob and carol (reader +
    # default, one token for both); at the root: its reader.
    assert writes == [(w, f"{NS}/") for w in ONE_TOKEN * 2] + [(w, "") for w in ONE_TOKEN], writes
    client = hvac.Client(url=server.address, token=server.root_token, namespace=NS)
    # No token is left in the namespace (an empty LIST answers 404: hvac's None).
    assert client.list("auth/token/accessors") is None

    # A failing assertion inside the namespace fails the run.
    doc = spec_doc(READS_APP)
    doc["tests"][0]["can"]["read"].append("kv/data/other")
    failing = run_cli(["test", write(tmp_path, doc, "failing.yaml")], env=env)
    assert failing.exit_code == 1 and "can read kv/data/other" in failing.stdout, failing

    # plan --test with the namespace's policy narrowed: the sentence names the namespace;
    # the root's reader is untouched.
    narrowed = write(tmp_path, spec_doc('path "kv/data/app/public" {\n  capabilities = ["read"]\n}\n'), "n.yaml")
    mark = log.mark()
    changed = run_cli(["plan", narrowed, "--test"], env=env)
    assert changed.exit_code == 1, changed
    assert ("after this change, policies reader in namespace team-a can no longer read kv/data/app/config"
            in changed.stdout), changed
    assert "3 passed, 1 failed" not in changed.stdout and "1 passed, 3 failed" in changed.stdout, changed
    assert log.writes_since(mark) == []

    # The planner policy covers what namespaced tests read (prefixed with
    # the namespace): plan --test and the text-evaluating `test` both answer.
    hcl = run_cli(["planner-policy", spec], env=env).stdout
    root = server.client()
    root.sys.create_or_update_policy("planner", hcl)
    planner = root.auth.token.create(policies=["planner"], no_default_policy=True, ttl="5m")["auth"]["client_token"]
    as_planner = {**env, "VAULT_TOKEN": planner}
    mark = log.mark()
    planned = run_cli(["plan", spec, "--test", "--detailed-exitcode"], env=as_planner)
    assert planned.exit_code == 0 and "4 passed, 0 failed" in planned.stdout, planned
    evaluated = run_cli(["test", spec], env=as_planner)
    assert evaluated.exit_code == 0 and "4 passed, 0 failed" in evaluated.stdout, evaluated
    assert "may not create tokens" in evaluated.stderr, evaluated
    # It only tried to make test tokens, at the root or in the namespace, and was refused: nothing written.
    writes = log.writes_since(mark)
    assert all(w.refused for w in writes), writes
    assert {w.path for w in writes} <= {"auth/token/create-orphan", f"{NS}/auth/token/create-orphan"}, writes


def test_a_namespace_that_does_not_exist_fails_its_tests_clearly(audited, run_cli, tmp_path):
    server, log = audited
    env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(tmp_path),
           "VAULT_NAMESPACE": None, "BAO_ADDR": None, "BAO_TOKEN": None}
    # Declared (validate requires it) but not applied yet.
    spec = write(tmp_path, {"version": 1, "namespaces": {"nope": {}}, "tests": [
        {"name": "nowhere", "as": {"namespace": "nope", "policies": ["default"]}, "can": {"read": ["x"]}},
        {"name": "root", "as": {"policies": ["default"]}, "can": {"read": ["sys/capabilities-self"]}}]})
    mark = log.mark()
    result = run_cli(["test", spec], env=env)
    assert result.exit_code == 1, result
    assert "namespace nope does not exist in Vault" in result.stdout, result
    assert "Traceback" not in result.output
    assert [w for w, ns in requests_with_namespace(log, mark)] == ONE_TOKEN  # only the root test's token


OFFLINE = {"VAULT_ADDR": None, "VAULT_TOKEN": None, "HOME": str(Path("/nonexistent"))}


@pytest.mark.parametrize("bad", ["a//b", "/a", "a/", "a:b"])
def test_validate_refuses_a_bad_namespace_name(run_cli, tmp_path, bad):
    spec = write(tmp_path, {"version": 1, "namespaces": {"a": {"namespaces": {"b": {}}}}, "tests": [
        {"name": "bad", "as": {"namespace": bad, "policies": ["x"]}, "can": {"read": ["x"]}}]})
    result = run_cli(["validate", spec], env={**OFFLINE, "HOME": str(tmp_path)})
    assert result.exit_code == 1 and "Traceback" not in result.output, result
    assert "spec.yaml:" in result.stderr and "tests" in result.stderr, result


def test_validate_refuses_a_namespace_the_spec_does_not_declare(run_cli, tmp_path):
    spec = write(tmp_path, {"version": 1, "namespaces": {"a": {"namespaces": {"b": {}}}}, "tests": [
        {"name": "top", "as": {"namespace": "a", "policies": ["x"]}, "can": {"read": ["x"]}},
        {"name": "nested", "as": {"namespace": "a/b", "policies": ["x"]}, "can": {"read": ["x"]}},
        {"name": "typo", "as": {"namespace": "a/c", "policies": ["x"]}, "can": {"read": ["x"]}},
        {"name": "nowhere", "as": {"namespace": "z", "policies": ["x"]}, "can": {"read": ["x"]}}]})
    result = run_cli(["validate", spec], env={**OFFLINE, "HOME": str(tmp_path)})
    assert result.exit_code == 1 and "Traceback" not in result.output, result
    lines = result.stderr.strip().splitlines()
    problems = [line.removeprefix("Error: ") for line in lines if "is not declared" in line]
    # One located line each, for the two undeclared ones only (the 3rd and 4th tests: lines 25 and 33).
    assert problems == [
        f"{spec}:25:16: tests[2].as.namespace: namespace a/c is not declared in the spec "
        "(no namespaces.a.namespaces.c)",
        f"{spec}:33:16: tests[3].as.namespace: namespace z is not declared in the spec (no namespaces.z)"], result


def test_the_docs_namespace_examples_are_valid_specs(run_cli, tmp_path):
    docs = (Path(__file__).resolve().parent.parent / "docs" / "access-tests.md").read_text(encoding="utf-8")
    examples = [block.split("```", 1)[0] for block in docs.split("```yaml\n")[1:] if "namespace: team-a" in block]
    assert len(examples) == 2  # the namespaced identity, and a parent's grants on its child
    for example in examples:
        spec = tmp_path / "vaultform.yaml"
        spec.write_text("version: 1\n" + example, encoding="utf-8")
        result = run_cli(["validate", str(spec)], env={"VAULT_ADDR": None, "VAULT_TOKEN": None, "HOME": str(tmp_path)})
        assert result.exit_code == 0, str(result)


PARENT_GRANTS = 'path "b/kv/data/app/*" {\n  capabilities = ["read"]\n}\n'


def nested_doc(parent_grants: str = PARENT_GRANTS) -> dict:
    return {
        "version": 1,
        "namespaces": {"a": {
            # a's policy on its child's paths: "b/..." (a token made in a acts in a/b with it).
            "policies": {"parent-reader": parent_grants},
            "namespaces": {"b": {
                "secrets_engines": {"kv": {"type": "kv", "options": {"version": "2"}}},
                "policies": {"reader": READS_APP},
                "auth": {"people": {"type": "userpass", "users": {"bob": {
                    "password": {"env": "BOB_PASSWORD"}, "token_policies": ["reader"]}}}},
            }},
        }},
        "tests": [
            {"name": "nested policies", "as": {"namespace": "a/b", "policies": ["reader"]},
             "can": {"read": ["kv/data/app/config"]}, "cannot": {"read": ["kv/data/other"]}},
            {"name": "nested user", "as": {"namespace": "a/b", "auth": "people", "role": "bob"},
             "can": {"read": ["kv/data/app/config"]}},
            {"name": "a's token on its child's paths", "as": {"namespace": "a", "policies": ["parent-reader"]},
             "can": {"read": ["b/kv/data/app/config"]},
             "cannot": {"read": ["kv/data/app/config", "b/kv/data/other"]}},
            # A token made in a/b carries a/b's policies only: a's parent-reader is not one of them.
            {"name": "the child's tokens do not carry the parent's policy",
             "as": {"namespace": "a/b", "policies": ["parent-reader"]},
             "cannot": {"read": ["kv/data/app/config", "b/kv/data/app/config"]}},
        ],
    }


def test_nested_namespace_identities_and_a_parents_grants_on_its_child(audited, run_cli, tmp_path):
    server, log = audited
    env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(tmp_path),
           "VAULT_NAMESPACE": None, "BAO_ADDR": None, "BAO_TOKEN": None, "BOB_PASSWORD": "bob-pw-123456"}
    spec = write(tmp_path, nested_doc())

    # Before a and a/b exist: the plan's texts answer, nothing is written.
    mark = log.mark()
    planned = run_cli(["plan", spec, "--test", "--format", "json"], env=env)
    assert planned.exit_code == 0, planned
    tests = json.loads(planned.stdout)["access_tests"]["tests"]
    assert [t["passed"] for t in tests] == [True] * 4, tests
    assert log.writes_since(mark) == []

    assert run_cli(["apply", spec, "--auto-approve"], env=env).exit_code == 0
    root = server.client()
    in_child = hvac.Client(url=server.address, token=server.root_token, namespace="a/b")
    in_child.secrets.kv.v2.create_or_update_secret("app/config", {"k": "v"}, mount_point="kv")

    # What Vault does (measured on OpenBao 2.7.2): a token made in a with a
    # policy granting "b/kv/data/app/*" reads a/b's secret both from a (path
    # b/kv/data/app/config) and inside a/b (path kv/data/app/config).
    parent_token = hvac.Client(url=server.address, token=server.root_token, namespace="a").auth.token.create(
        policies=["parent-reader"], no_default_policy=True, ttl="2m")["auth"]["client_token"]
    assert hvac.Client(url=server.address, token=parent_token, namespace="a").read(
        "b/kv/data/app/config")["data"]["data"] == {"k": "v"}
    assert hvac.Client(url=server.address, token=parent_token, namespace="a/b").read(
        "kv/data/app/config")["data"]["data"] == {"k": "v"}
    hvac.Client(url=server.address, token=server.root_token, namespace="a").auth.token.revoke(parent_token)

    # Live: each token made in its own namespace (a/b's three, then a's),
    # asked about and revoked there; nothing else written.
    mark = log.mark()
    result = run_cli(["test", spec], env=env)
    assert result.exit_code == 0 and "4 passed, 0 failed" in result.stdout, result
    assert "role bob (auth/people) in namespace a/b" in result.stdout, result
    writes = requests_with_namespace(log, mark)
    assert writes == [(w, "a/b/") for w in ONE_TOKEN * 3] + [(w, "a/") for w in ONE_TOKEN], writes
    assert in_child.list("auth/token/accessors") is None  # no token left in a/b
    assert root.list("auth/token/accessors") is not None  # (the root's own token is listed there)

    # plan --test sees a's grant on its child narrowed.
    narrowed = write(tmp_path, nested_doc('path "b/kv/data/app/public" {\n  capabilities = ["read"]\n}\n'), "n.yaml")
    mark = log.mark()
    changed = run_cli(["plan", narrowed, "--test"], env=env)
    assert changed.exit_code == 1, changed
    assert ("after this change, policies parent-reader in namespace a can no longer read b/kv/data/app/config"
            in changed.stdout), changed
    assert log.writes_since(mark) == []

    # A least-privilege planner token reads what nested tests need (b's
    # existence is read in a, a's at the root).
    hcl = run_cli(["planner-policy", spec], env=env).stdout
    assert 'path "a/sys/namespaces/b"' in hcl and 'path "a/b/sys/policies/acl/parent-reader"' in hcl, hcl
    root.sys.create_or_update_policy("planner", hcl)
    planner = root.auth.token.create(policies=["planner"], no_default_policy=True, ttl="5m")["auth"]["client_token"]
    planned = run_cli(["plan", spec, "--test", "--detailed-exitcode"], env={**env, "VAULT_TOKEN": planner})
    assert planned.exit_code == 0 and "4 passed, 0 failed" in planned.stdout, planned
