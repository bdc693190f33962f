""""No changes" does not hide what vaultform does not manage: it counts those
objects per kind and says how to list (`plan --show-unmanaged`) or prune them.

Against the session's shared OpenBao dev server: other tests leave their own
objects there, so counts are checked as "at least" and lists by membership.
"""

from __future__ import annotations

import re

import yaml


def _spec(tmp_path, unique, sections: dict):
    path = tmp_path / "vault.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "vault": {"record": {"path": unique("unmanaged-record")}},
                                    **sections}), encoding="utf-8")
    return path


def test_no_changes_counts_unmanaged_objects_and_plan_lists_them(run_cli, vault_env, root, tmp_path, unique):
    mine, by_hand, mount = unique("um-mine"), unique("um-hand"), unique("um-kv")
    spec = _spec(tmp_path, unique, {"policies": {mine: 'path "a/*" {\n  capabilities = ["read"]\n}\n'}})
    assert run_cli(["apply", str(spec), "--auto-approve"], env=vault_env).exit_code == 0
    root.sys.create_or_update_policy(by_hand, 'path "b/*" { capabilities = ["read"] }')
    root.sys.enable_secrets_engine("kv", path=mount)

    result = run_cli(["plan", str(spec), "--detailed-exitcode"], env=vault_env)
    assert result.exit_code == 0, str(result)
    lines = result.stdout.splitlines()
    assert lines[0] == "No changes. Vault matches the spec.", str(result)
    counted = re.fullmatch(r"Vault also holds (\d+) objects that vaultform does not manage \((.*)\)\.", lines[1])
    assert counted, str(result)
    per_kind = dict(part.split(": ") for part in counted.group(2).split(", "))
    assert int(per_kind["policy"]) >= 1 and int(per_kind["secrets_engine"]) >= 2, str(result)  # + the dev kv at secret/
    assert int(counted.group(1)) == sum(int(n) for n in per_kind.values())
    assert "`vaultform plan --show-unmanaged`" in lines[2] and "prune: {" in lines[2], str(result)
    assert "policies: true" in lines[2] and "secrets_engines: true" in lines[2], str(result)

    listed = run_cli(["plan", str(spec), "--show-unmanaged"], env=vault_env)
    assert listed.exit_code == 0, str(listed)
    shown = set(listed.stdout.split())
    assert {f"policy.{by_hand}", f"secrets_engine.{mount}", "secrets_engine.secret"} <= shown, str(listed)
    assert f"policy.{mine}" not in shown and "policy.default" not in shown and "policy.root" not in shown
    assert "secrets_engine.sys" not in shown and "secrets_engine.identity" not in shown, str(listed)


def test_pruned_kinds_are_planned_for_deletion_not_counted(run_cli, vault_env, root, tmp_path, unique):
    by_hand = unique("um-pruned")
    root.sys.create_or_update_policy(by_hand, 'path "c/*" { capabilities = ["read"] }')
    spec = _spec(tmp_path, unique, {"prune": {"policies": True}})
    result = run_cli(["plan", str(spec), "--show-unmanaged", "--force"], env=vault_env)
    assert result.exit_code == 0, str(result)
    before_listing = result.stdout.split("Vault also holds")[0]
    assert f"- policy.{by_hand}" in before_listing, str(result)
    assert f"    policy.{by_hand}" not in result.stdout and "policy: " not in result.stdout, str(result)
    root.sys.delete_policy(by_hand)


def test_show_unmanaged_with_changes_lists_them_after_the_plan(run_cli, vault_env, root, tmp_path, unique):
    by_hand = unique("um-after")
    root.sys.create_or_update_policy(by_hand, 'path "d/*" { capabilities = ["read"] }')
    spec = _spec(tmp_path, unique, {"policies": {unique("um-new"): 'path "e/*" {\n  capabilities = ["read"]\n}\n'}})
    result = run_cli(["plan", str(spec), "--show-unmanaged"], env=vault_env)
    assert result.exit_code == 0, str(result)
    plan_part, _, listing = result.stdout.partition("\nVault also holds ")
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in plan_part and f"    policy.{by_hand}" in listing
    plain = run_cli(["plan", str(spec)], env=vault_env)
    assert "Vault also holds" not in plain.stdout, str(plain)  # a plan with changes stays as it was
    root.sys.delete_policy(by_hand)


def test_objects_made_by_hand_inside_declared_namespaces_are_counted_and_listed(run_cli, tmp_path):
    """On a server of its own: namespaces on the shared one would show up in
    other tests' exports. Inside every declared namespace, to any depth, the
    same kinds are looked for as at the root, and a namespace's own prune:
    decides there (not its parent's, not the root's)."""
    import hvac

    from tests.support.bao import BaoDevServer

    reads = 'path "x/*" {\n  capabilities = ["read"]\n}\n'
    doc = {"version": 1, "policies": {"mine": reads},
           "namespaces": {"a": {"policies": {"mine-a": reads}, "namespaces": {"b": {"policies": {"mine-b": reads}}}}}}
    spec = tmp_path / "vault.yaml"
    spec.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with BaoDevServer() as server:
        env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(tmp_path),
               "VAULT_NAMESPACE": None, "BAO_ADDR": None, "BAO_TOKEN": None}
        assert run_cli(["apply", str(spec), "--auto-approve"], env=env).exit_code == 0

        def client(namespace):
            return hvac.Client(url=server.address, token=server.root_token, namespace=namespace)

        client(None).sys.create_or_update_policy("hand-root", 'path "y/*" { capabilities = ["read"] }')
        client("a").sys.create_or_update_policy("hand-a", 'path "y/*" { capabilities = ["read"] }')
        client("a/b").sys.create_or_update_policy("hand-b", 'path "y/*" { capabilities = ["read"] }')
        client("a/b").sys.enable_secrets_engine("kv", path="hand-kv")
        client(None).sys.create_namespace("c")  # not declared: listed itself, not looked into
        client("c").sys.create_or_update_policy("hand-c", 'path "y/*" { capabilities = ["read"] }')

        result = run_cli(["plan", str(spec), "--detailed-exitcode"], env=env)
        assert result.exit_code == 0, str(result)
        lines = result.stdout.splitlines()
        assert lines[0] == "No changes. Vault matches the spec.", str(result)
        # The root's hand-root, c and the dev server's secret/, a's hand-a, a/b's hand-b and hand-kv.
        assert lines[1] == ("Vault also holds 6 objects that vaultform does not manage "
                            "(namespace: 1, policy: 3, secrets_engine: 2)."), str(result)
        assert "in a namespace's body for those inside it" in lines[2], str(result)

        listed = run_cli(["plan", str(spec), "--show-unmanaged"], env=env)
        assert listed.exit_code == 0, str(listed)
        shown = [line.strip() for line in listed.stdout.splitlines() if line.startswith("    ")]
        # Per kind, sorted by address.
        assert shown == ["namespace.c", "namespace.a/b:policy.hand-b", "namespace.a:policy.hand-a",
                         "policy.hand-root", "namespace.a/b:secrets_engine.hand-kv", "secrets_engine.secret"], \
            str(listed)
        assert "hand-c" not in listed.stdout and "mine" not in listed.stdout, str(listed)

        # a's prune: deletes a's hand-made policy; a/b's and the root's stay listed.
        doc["namespaces"]["a"]["prune"] = {"policies": True}
        spec.write_text(yaml.safe_dump(doc), encoding="utf-8")
        pruned = run_cli(["plan", str(spec), "--show-unmanaged", "--force"], env=env)
        assert pruned.exit_code == 0, str(pruned)
        plan_part, _, listing = pruned.stdout.partition("\nVault also holds ")
        assert "- namespace.a:policy.hand-a" in plan_part and "hand-a" not in listing, str(pruned)
        assert "    namespace.a/b:policy.hand-b" in listing and "    policy.hand-root" in listing, str(pruned)
        assert "hand-c" not in pruned.stdout and "- namespace.c" not in plan_part, str(pruned)
        assert "    namespace.c" in listing, str(pruned)  # the root's prune: decides for c, not a's
