"""Namespaces made by hand, and objects in namespaces changed by hand, against
real OpenBao dev servers of their own (every namespace at the root must be
known to count them).

- A namespace neither declared nor recorded is unmanaged where it was made:
  at the root, or in the declared namespace holding it (namespace.a/h).
- `prune: {namespaces: true}` deletes them there: the root's at the root, a
  namespace's in it. One holding anything needs consent; one holding a
  namespace of its own is left alone (that prune never reaches into it, and
  OpenBao refuses to delete it), listed, with a warning.
- An object recorded, changed by hand and removed from the spec is left
  alone unless the prune: where it lives asks for its kind: in a namespace
  too, and for namespaces themselves.
"""

from __future__ import annotations

import json
import time

import hvac
import pytest
import yaml

from tests.support.bao import BaoDevServer

READS = 'path "x/*" {\n  capabilities = ["read"]\n}\n'


@pytest.fixture
def fresh(tmp_path):
    with BaoDevServer() as server:
        env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(tmp_path),
               "VAULT_NAMESPACE": None, "BAO_ADDR": None, "BAO_TOKEN": None, "BAO_NAMESPACE": None}
        yield server, env


def client(server, namespace=None, token=None) -> hvac.Client:
    return hvac.Client(url=server.address, token=token or server.root_token, namespace=namespace)


def exists(server, path: str) -> bool:
    parent, _, leaf = path.rpartition("/")
    try:
        return bool((client(server, parent or None).read(f"sys/namespaces/{leaf}") or {}).get("data"))
    except hvac.exceptions.InvalidPath:
        return False


def wait_gone(server, path: str) -> None:
    deadline = time.monotonic() + 30
    while exists(server, path) and time.monotonic() < deadline:
        time.sleep(0.05)  # OpenBao deletes a namespace in the background


def write_spec(tmp_path, doc: dict) -> str:
    path = tmp_path / "vault.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(path)


def listed(result) -> list:
    """What --show-unmanaged lists, after the plan."""
    listing = result.stdout.partition("Vault also holds ")[2]
    return [line.strip() for line in listing.splitlines() if line.startswith("    ")]


def planned(result) -> dict:
    assert result.exit_code in (0, 2), str(result)
    return {c["address"]: c for c in json.loads(result.stdout)["changes"]}


def test_namespaces_made_by_hand_are_unmanaged_where_they_are_and_pruned_only_by_that_prune(run_cli, tmp_path,
                                                                                             fresh):
    server, env = fresh
    doc = {"version": 1, "policies": {"mine": READS},
           "namespaces": {"a": {"policies": {"mine-a": READS}, "namespaces": {"b": {}}}}}
    spec = write_spec(tmp_path, doc)
    assert run_cli(["apply", spec, "--auto-approve"], env=env).exit_code == 0
    client(server).sys.disable_secrets_engine("secret")  # the dev server's own: out of the counts
    root = client(server)
    for name in ("empty", "full", "parent"):
        root.sys.create_namespace(name)
    client(server, "full").sys.create_or_update_policy("p", READS)
    client(server, "parent").sys.create_namespace("kid")
    client(server, "a").sys.create_namespace("h")       # made by hand inside declared a
    client(server, "a/b").sys.create_namespace("deep")  # and two levels down

    result = run_cli(["plan", spec, "--detailed-exitcode"], env=env)
    assert result.exit_code == 0, str(result)
    lines = result.stdout.splitlines()
    assert lines[0] == "No changes. Vault matches the spec.", str(result)
    # Root: empty, full, parent; a: h; a/b: deep. Never what an undeclared namespace holds (kid, p).
    assert lines[1] == "Vault also holds 5 objects that vaultform does not manage (namespace: 5).", str(result)
    assert "prune: {namespaces: true}" in lines[2] and "in a namespace's body" in lines[2], str(result)
    shown = run_cli(["plan", spec, "--show-unmanaged"], env=env)
    assert listed(shown) == ["namespace.a/b/deep", "namespace.a/h", "namespace.empty", "namespace.full",
                             "namespace.parent"], str(shown)
    document = json.loads(run_cli(["plan", spec, "--format", "json"], env=env).stdout)
    assert document["unmanaged"] == {"namespace": {"addresses": listed(shown), "prune_key": "namespaces"}}, document

    # The root's prune: the root's hand-made namespaces, never those inside a.
    doc["prune"] = {"namespaces": True}
    spec = write_spec(tmp_path, doc)
    refused = run_cli(["plan", spec], env=env)
    assert refused.exit_code == 1 and "namespace.full" in refused.stderr and "--allow-destroy" in refused.stderr, \
        str(refused)
    assert "namespace.empty" not in refused.stderr, str(refused)  # an empty one needs no consent
    result = run_cli(["plan", spec, "--allow-destroy", "--format", "json"], env=env)
    changes = planned(result)
    assert set(changes) == {"namespace.empty", "namespace.full"}, str(result)
    assert all(c["action"] == "delete" and c["reason"] == "not in the spec, and prune.namespaces is on"
               for c in changes.values()), str(result)
    text = run_cli(["plan", spec, "--allow-destroy", "--show-unmanaged"], env=env)
    assert "deleting namespace full destroys everything in it: policies p" in text.stdout, str(text)
    assert ("Warning: namespace.parent is not pruned (prune.namespaces is on): it holds namespace(s) kid"
            in text.stdout), str(text)
    assert listed(text) == ["namespace.a/b/deep", "namespace.a/h", "namespace.parent"], str(text)

    applied = run_cli(["apply", spec, "--auto-approve", "--allow-destroy"], env=env)
    assert applied.exit_code == 0, str(applied)
    wait_gone(server, "empty")
    wait_gone(server, "full")
    assert not exists(server, "empty") and not exists(server, "full")
    assert exists(server, "parent") and exists(server, "parent/kid")
    assert exists(server, "a/h") and exists(server, "a/b/deep") and exists(server, "a") and exists(server, "a/b")
    again = run_cli(["plan", spec, "--detailed-exitcode"], env=env)
    assert again.exit_code == 0, str(again)

    # a's prune: a's hand-made namespace (h), not a/b's (deep), nothing at the root.
    del doc["prune"]
    doc["namespaces"]["a"]["prune"] = {"namespaces": True}
    spec = write_spec(tmp_path, doc)
    result = run_cli(["plan", spec, "--format", "json"], env=env)
    changes = planned(result)
    assert set(changes) == {"namespace.a/h"}, str(result)
    assert changes["namespace.a/h"]["reason"] == "not in the spec, and prune.namespaces is on in namespace a"
    assert run_cli(["apply", spec, "--auto-approve"], env=env).exit_code == 0
    wait_gone(server, "a/h")
    assert not exists(server, "a/h") and exists(server, "a/b/deep") and exists(server, "parent")
    assert run_cli(["plan", spec, "--detailed-exitcode"], env=env).exit_code == 0


def test_a_namespace_name_no_spec_could_declare_is_listed_and_never_pruned(run_cli, tmp_path, fresh):
    """OpenBao 2.7.2 accepts ":" in a namespace name (measured); vaultform's
    addresses use it to separate a namespace from what it holds."""
    server, env = fresh
    client(server).sys.create_namespace("odd:name")
    spec = write_spec(tmp_path, {"version": 1, "prune": {"namespaces": True}})
    result = run_cli(["plan", spec, "--detailed-exitcode", "--show-unmanaged"], env=env)
    assert result.exit_code == 0, str(result)
    assert "namespace.odd:name is not pruned (prune.namespaces is on): no spec could name it" in result.stdout, \
        str(result)
    assert "    namespace.odd:name" in result.stdout, str(result)
    assert exists(server, "odd:name")


def test_objects_in_a_namespace_changed_by_hand_then_removed_follow_that_namespace_s_prune(run_cli, tmp_path,
                                                                                          fresh):
    """As at the root: a recorded object removed from the spec after a change
    by hand is left alone (and forgotten) unless the prune: where it lives asks
    for its kind; then it is deleted. Namespaces themselves included."""
    server, env = fresh
    doc = {"version": 1, "policies": {"root-pol": READS},
           "namespaces": {"top": {"custom_metadata": {"v": "1"}},
                          "a": {"policies": {"pol": READS}, "token_roles": {"tr": {"orphan": True}},
                                "namespaces": {"b": {"custom_metadata": {"v": "1"}}}}}}
    spec = write_spec(tmp_path, doc)
    assert run_cli(["apply", spec, "--auto-approve"], env=env).exit_code == 0
    inside = client(server, "a")
    inside.sys.create_or_update_policy("pol", 'path "y/*" { capabilities = ["list"] }')
    inside.write("auth/token/roles/tr", orphan=False)
    inside.write("sys/namespaces/b", custom_metadata={"v": "by hand"})
    client(server).write("sys/namespaces/top", custom_metadata={"v": "by hand"})
    client(server).sys.create_or_update_policy("root-pol", 'path "y/*" { capabilities = ["list"] }')
    removed = ["namespace.a:policy.pol", "namespace.a:token_role.tr", "namespace.a/b", "namespace.top",
               "policy.root-pol"]

    gone = {"version": 1, "namespaces": {"a": {}}}
    kept = run_cli(["plan", write_spec(tmp_path, gone), "--format", "json"], env=env)
    document = json.loads(kept.stdout)
    assert document["changes"] == [], str(kept)
    for address in removed:
        assert any(w.startswith(f"{address} was removed from the spec, but it was changed") for w in
                   document["warnings"]), (address, str(kept))

    # The same, with the prune: that governs each: a's for what a holds, the root's for the root's.
    gone = {"version": 1, "prune": {"namespaces": True, "policies": True},
            "namespaces": {"a": {"prune": {"policies": True, "token_roles": True, "namespaces": True}}}}
    spec = write_spec(tmp_path, gone)
    result = run_cli(["plan", spec, "--format", "json"], env=env)
    changes = planned(result)
    assert set(changes) == set(removed), str(result)
    for address, change in changes.items():
        assert change["action"] == "delete" and change["reason"].endswith(
            "(it was changed by hand since vaultform applied it)"), (address, str(result))
    assert json.loads(result.stdout)["warnings"] == [], str(result)
    assert run_cli(["apply", spec, "--auto-approve"], env=env).exit_code == 0
    wait_gone(server, "a/b")
    wait_gone(server, "top")
    assert inside.read("sys/policies/acl/pol") is None and inside.read("auth/token/roles/tr") is None
    assert not exists(server, "a/b") and not exists(server, "top") and exists(server, "a")
    assert client(server).read("sys/policies/acl/root-pol") is None
    assert run_cli(["plan", spec, "--detailed-exitcode"], env=env).exit_code == 0


def test_a_planner_token_from_the_printed_policy_plans_prune_of_namespaces(run_cli, tmp_path, fresh):
    server, env = fresh
    doc = {"version": 1, "prune": {"namespaces": True},
           "namespaces": {"a": {"prune": {"namespaces": True}}}}
    spec = write_spec(tmp_path, doc)
    assert run_cli(["apply", spec, "--auto-approve"], env=env).exit_code == 0
    root = client(server)
    root.sys.create_namespace("full")
    client(server, "full").sys.enable_secrets_engine("kv", path="kv")
    client(server, "a").sys.create_namespace("h")
    printed = run_cli(["planner-policy", spec], env=env)
    assert printed.exit_code == 0 and '"+/sys/mounts"' in printed.stdout and '"a/sys/namespaces/"' in printed.stdout, \
        str(printed)
    root.sys.create_or_update_acl_policy("planner", printed.stdout)
    token = root.auth.token.create(policies=["planner"], no_default_policy=True, ttl="10m")["auth"]["client_token"]
    result = run_cli(["plan", spec, "--allow-destroy", "--format", "json"], env={**env, "VAULT_TOKEN": token})
    assert set(planned(result)) == {"namespace.full", "namespace.a/h"}, str(result)
    text = run_cli(["plan", spec, "--allow-destroy"], env={**env, "VAULT_TOKEN": token})
    assert "deleting namespace full destroys everything in it: secrets engines kv" in text.stdout, str(text)
    assert "namespace a/h holds nothing" in text.stdout, str(text)
