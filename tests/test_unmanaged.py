""""No changes" does not hide what vaultform does not manage: it counts those
objects per kind and says how to list (`plan --show-unmanaged`) or prune them.

Against the session's shared OpenBao dev server: other tests leave their own
objects there, so counts are checked as "at least" and lists by membership.
"""

from __future__ import annotations

import re

import yaml


def _own_server_env(server, home) -> dict:
    """The environment for a test on a server of its own (exact listings need one)."""
    return {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(home),
            "VAULT_NAMESPACE": None, "BAO_ADDR": None, "BAO_TOKEN": None}


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
        env = _own_server_env(server, tmp_path)
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
        # The JSON plan lists the same, by kind, each with the key its namespace's (or the root's) prune: takes.
        document = _document(run_cli(["plan", str(spec), "--format", "json"], env=env))
        assert document["unmanaged"] == {
            "namespace": {"addresses": shown[:1], "prune_key": "namespaces"},
            "policy": {"addresses": shown[1:4], "prune_key": "policies"},
            "secrets_engine": {"addresses": shown[4:], "prune_key": "secrets_engines"}}

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


# -- the JSON plan ("unmanaged", format 1.4) ---------------------------------------------

HAND_VALUE = "um-json-9f3c1e7a5b-never-print"   # a value in a hand-made KV secret: never in any output


def _listed(stdout: str) -> list:
    """The addresses the text plan lists under --show-unmanaged, in its order."""
    return [line.strip() for line in stdout.splitlines() if line.startswith("    ")]


def _document(result) -> dict:
    """stdout is exactly one plan document, valid against the published schema."""
    import json
    from pathlib import Path

    import jsonschema

    schema = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "plan-output.schema.json")
                        .read_text(encoding="utf-8"))
    document = json.loads(result.stdout)
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["format_version"] == "1.4"
    return document


def test_json_plan_lists_unmanaged_objects_like_the_text_plan(run_cli, tmp_path):
    """On a server of its own, so the listing is exact: objects of five kinds
    made by hand appear in the JSON plan under "unmanaged", by kind, sorted,
    with their prune: key; with and without --show-unmanaged when there is
    nothing to change (the text plan counts them then), only with it when
    there are changes (the text plan says nothing of them then); what a
    prune: setting deletes is a change instead; a hand-made KV secret's path
    and value appear nowhere. A saved plan carries the same document."""
    import hvac

    from tests.support.bao import BaoDevServer

    reads = 'path "x/*" {\n  capabilities = ["read"]\n}\n'
    doc = {"version": 1, "policies": {"mine": reads}}
    spec = tmp_path / "vault.yaml"
    spec.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with BaoDevServer() as server:
        env = _own_server_env(server, tmp_path)
        assert run_cli(["apply", str(spec), "--auto-approve"], env=env).exit_code == 0
        client = hvac.Client(url=server.address, token=server.root_token)
        client.sys.create_or_update_policy("hand-b", 'path "y/*" { capabilities = ["read"] }')
        client.sys.create_or_update_policy("hand-a", 'path "y/*" { capabilities = ["read"] }')
        client.sys.enable_secrets_engine("kv", path="hand-kv", options={"version": "2"})
        client.secrets.kv.v2.create_or_update_secret(path="app/db", secret={"password": HAND_VALUE},
                                                     mount_point="hand-kv")
        client.sys.enable_auth_method("approle", path="hand-approle")
        client.write("auth/token/roles/hand-role", allowed_policies="default")
        client.secrets.identity.create_or_update_entity(name="hand-entity")

        expected = {
            "auth_method": {"addresses": ["auth_method.hand-approle"], "prune_key": "auth_methods"},
            "identity_entity": {"addresses": ["identity_entity.hand-entity"], "prune_key": "identity_entities"},
            "policy": {"addresses": ["policy.hand-a", "policy.hand-b"], "prune_key": "policies"},
            # secret/ is the dev server's own KV mount.
            "secrets_engine": {"addresses": ["secrets_engine.hand-kv", "secrets_engine.secret"],
                               "prune_key": "secrets_engines"},
            "token_role": {"addresses": ["token_role.hand-role"], "prune_key": "token_roles"},
        }
        outputs = []

        def run(*args):
            result = run_cli(list(args), env=env)
            outputs.append(result.output)
            return result

        # Nothing to change: listed with and without --show-unmanaged, as the text plan counts them.
        plain = run("plan", str(spec), "--format", "json", "--detailed-exitcode")
        assert plain.exit_code == 0, str(plain)
        document = _document(plain)
        assert document["changes"] == [] and document["unmanaged"] == expected, plain.stdout
        shown = run("plan", str(spec), "--format", "json", "--show-unmanaged")
        assert shown.exit_code == 0 and _document(shown) == document, str(shown)
        # The very addresses the text plan lists, in the same order (per kind, sorted).
        text = run("plan", str(spec), "--show-unmanaged")
        assert text.exit_code == 0, str(text)
        kinds_in_text_order = sorted(expected)
        assert _listed(text.stdout) == [a for kind in kinds_in_text_order for a in expected[kind]["addresses"]]
        assert "Vault also holds 7 objects" in run("plan", str(spec)).stdout

        # Saved with --out: the file's plan is this document, and `show` renders it.
        saved = tmp_path / "plan.bin"
        kept = run("plan", str(spec), "--format", "json", "--out", str(saved))
        assert kept.exit_code == 0 and _document(kept) == document, str(kept)
        shown_saved = run("show", str(saved), "--format", "json")
        assert shown_saved.exit_code == 0 and _document(shown_saved) == document, str(shown_saved)
        shown_text = run("show", str(saved))
        assert "Vault also holds 7 objects that vaultform does not manage" in shown_text.stdout, str(shown_text)
        # apply ignores it: an object made by hand since the review does not make the plan stale.
        client.sys.create_or_update_policy("hand-c", 'path "y/*" { capabilities = ["read"] }')
        applied = run("apply", str(saved))
        assert applied.exit_code == 0, str(applied)
        client.sys.delete_policy("hand-c")

        # With --target and nothing to change the plan does not look (as the text plan): null.
        targeted = run("plan", str(spec), "--format", "json", "--target", "policy.mine")
        assert targeted.exit_code == 0 and _document(targeted)["unmanaged"] is None, str(targeted)

        # Changes to make: null unless --show-unmanaged asks, then the same listing.
        doc["policies"]["new"] = reads
        spec.write_text(yaml.safe_dump(doc), encoding="utf-8")
        changing = run("plan", str(spec), "--format", "json", "--detailed-exitcode")
        assert changing.exit_code == 2, str(changing)
        assert _document(changing)["unmanaged"] is None
        asked = _document(run("plan", str(spec), "--format", "json", "--show-unmanaged"))
        assert [c["address"] for c in asked["changes"]] == ["policy.new"] and asked["unmanaged"] == expected

        # What prune: deletes is a change, not unmanaged; the other kinds stay listed.
        doc["prune"] = {"token_roles": True, "policies": True}
        spec.write_text(yaml.safe_dump(doc), encoding="utf-8")
        pruning = _document(run("plan", str(spec), "--format", "json", "--show-unmanaged", "--force"))
        assert {c["address"]: c["action"] for c in pruning["changes"]} == {
            "policy.new": "create", "policy.hand-a": "delete", "policy.hand-b": "delete",
            "token_role.hand-role": "delete"}
        assert pruning["unmanaged"] == {k: v for k, v in expected.items() if k not in ("policy", "token_role")}

        everything = "\n".join(outputs)
        assert HAND_VALUE not in everything and "app/db" not in everything
        assert HAND_VALUE not in saved.read_text(encoding="utf-8")
