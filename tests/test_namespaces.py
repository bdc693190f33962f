"""Namespaces (issue 11 item 5), against a real OpenBao dev server.

A namespace's objects are created in it (X-Vault-Namespace), after it; the
plan is empty after apply; a secret in it is readable with the namespace and
not at the root; deleting a namespace that holds anything is refused unless
allowed; VAULT_NAMESPACE picks the root the spec's namespaces are relative to.
"""

from __future__ import annotations

import json
import textwrap

import hvac
import pytest

from tests.support.record import recorded_objects


def in_namespace(bao, namespace: str) -> hvac.Client:
    return hvac.Client(url=bao.address, token=bao.root_token, namespace=namespace)


def spec_text(record: str, namespace: str, contents: bool = True) -> str:
    body = textwrap.dedent(f"""\
        version: 1
        vault:
          record: {{path: {record}}}
        namespaces:
          {namespace}:
            custom_metadata: {{team: payments}}
        """)
    if contents:
        body += textwrap.indent(textwrap.dedent("""\
            secrets_engines:
              kv:
                type: kv-v2
            policies:
              reader: |
                path "kv/data/*" {
                  capabilities = ["read"]
                }
            secrets:
              kv/app:
                user: alice
                password: {generate: {length: 24}}
            """), "    ")
    return body


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def namespace_exists(client: hvac.Client, name: str) -> bool:
    try:
        return bool((client.read(f"sys/namespaces/{name}") or {}).get("data"))
    except hvac.exceptions.InvalidPath:
        return False


def test_a_namespace_and_its_contents_apply_then_plan_empty(run_cli, vault_env, tmp_path, bao, root, unique):
    ns, record = unique("ns"), unique("rec")
    spec = write(tmp_path, "spec.yaml", spec_text(record, ns))
    result = run_cli(["apply", spec, "--auto-approve"], env=vault_env)
    assert result.exit_code == 0, str(result)
    out = result.stdout
    # Created before what it holds.
    assert out.index(f"] namespace.{ns}: creating") < out.index(f"] namespace.{ns}:secrets_engine.kv: creating"), out
    assert out.index(f"] namespace.{ns}: creating") < out.index(f"] namespace.{ns}:policy.reader: creating"), out
    for address in ("secrets_engine.kv", "policy.reader", "secret.kv/app"):
        assert f"namespace.{ns}:{address}" in result.stdout

    again = run_cli(["plan", spec, "--detailed-exitcode"], env=vault_env)
    assert again.exit_code == 0, str(again)

    inside = in_namespace(bao, ns)
    data = inside.secrets.kv.v2.read_secret_version(path="app", mount_point="kv", raise_on_deleted_version=True)
    password = data["data"]["data"]["password"]
    assert data["data"]["data"]["user"] == "alice" and len(password) == 24
    assert password not in result.output + again.output
    assert "reader" in inside.sys.list_acl_policies()["data"]["keys"]
    assert (root.read(f"sys/namespaces/{ns}") or {})["data"]["custom_metadata"] == {"team": "payments"}
    # Not at the root: no kv/ mount, no policy reader there.
    assert "kv/" not in root.sys.list_mounted_secrets_engines()["data"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.secrets.kv.v2.read_secret_version(path="app", mount_point="kv", raise_on_deleted_version=True)
    # The root's record lists them under the namespace, never as root objects.
    recorded = recorded_objects(root, path=record)
    assert recorded[f"namespace.{ns}:secret.kv/app"]["kind"] == "namespace"
    assert recorded[f"namespace.{ns}:secret.kv/app"]["namespace"] == ns
    assert "secret.kv/app" not in recorded

    # Drift inside the namespace is seen there.
    inside.sys.create_or_update_policy("reader", 'path "kv/*" { capabilities = ["list"] }')
    drift = run_cli(["plan", spec, "--detailed-exitcode"], env=vault_env)
    assert drift.exit_code == 2 and f"~ namespace.{ns}:policy.reader" in drift.stdout, str(drift)


def test_deleting_a_namespace_that_holds_anything_is_refused_unless_allowed(run_cli, vault_env, tmp_path, bao,
                                                                           root, unique):
    ns, record = unique("ns"), unique("rec")
    spec = write(tmp_path, "spec.yaml", spec_text(record, ns))
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    gone = write(tmp_path, "gone.yaml", f"version: 1\nvault:\n  record: {{path: {record}}}\n")

    refused = run_cli(["apply", gone, "--auto-approve"], env=vault_env)
    assert refused.exit_code == 1, str(refused)
    assert f"namespace.{ns}" in refused.stderr and "--allow-destroy" in refused.stderr, str(refused)
    assert namespace_exists(root, ns)
    assert "reader" in in_namespace(bao, ns).sys.list_acl_policies()["data"]["keys"]

    planned = run_cli(["plan", gone, "--allow-destroy"], env=vault_env)
    assert planned.exit_code == 0, str(planned)
    assert f"deleting namespace {ns} destroys everything in it: secrets engines kv; policies reader" \
        in planned.stdout, str(planned)

    allowed = run_cli(["apply", gone, "--auto-approve", "--allow-destroy"], env=vault_env)
    assert allowed.exit_code == 0, str(allowed)
    out = allowed.stdout
    # What it holds goes first, the namespace last.
    assert out.index(f"namespace.{ns}:secret.kv/app") < out.index(f"namespace.{ns}: destroying"), out
    assert not namespace_exists(root, ns)
    assert not [a for a in recorded_objects(root, path=record) if ns in a]
    assert run_cli(["plan", gone, "--detailed-exitcode"], env=vault_env).exit_code == 0


def test_an_empty_namespace_is_deleted_without_consent(run_cli, vault_env, tmp_path, root, unique):
    ns, record = unique("ns"), unique("rec")
    spec = write(tmp_path, "spec.yaml", spec_text(record, ns, contents=False))
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    assert namespace_exists(root, ns)
    gone = write(tmp_path, "gone.yaml", f"version: 1\nvault:\n  record: {{path: {record}}}\n")
    result = run_cli(["apply", gone, "--auto-approve"], env=vault_env)
    assert result.exit_code == 0, str(result)
    assert not namespace_exists(root, ns)


def test_a_namespace_made_by_hand_with_contents_is_refused_too(run_cli, vault_env, tmp_path, bao, root, unique):
    """Contents vaultform did not make still count: the namespace is not empty."""
    ns, record = unique("ns"), unique("rec")
    spec = write(tmp_path, "spec.yaml", spec_text(record, ns, contents=False))
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    in_namespace(bao, ns).sys.enable_secrets_engine("kv", path="handmade")
    gone = write(tmp_path, "gone.yaml", f"version: 1\nvault:\n  record: {{path: {record}}}\n")
    refused = run_cli(["plan", gone], env=vault_env)
    assert refused.exit_code == 1 and f"namespace.{ns}" in refused.stderr, str(refused)
    assert "secrets engines handmade" in refused.stderr, str(refused)
    assert namespace_exists(root, ns)


def test_vault_namespace_picks_the_root_the_spec_is_relative_to(run_cli, vault_env, tmp_path, bao, root, unique):
    parent, ns, record = unique("parent"), unique("ns"), unique("rec")
    root.write(f"sys/namespaces/{parent}")
    spec = write(tmp_path, "spec.yaml", spec_text(record, ns))
    env = {**vault_env, "VAULT_NAMESPACE": parent}
    result = run_cli(["apply", spec, "--auto-approve"], env=env)
    assert result.exit_code == 0, str(result)
    assert run_cli(["plan", spec, "--detailed-exitcode"], env=env).exit_code == 0
    assert namespace_exists(in_namespace(bao, parent), ns)
    assert not namespace_exists(root, ns)
    data = in_namespace(bao, f"{parent}/{ns}").secrets.kv.v2.read_secret_version(
        path="app", mount_point="kv", raise_on_deleted_version=True)
    assert data["data"]["data"]["user"] == "alice"
    # The record is kept relative to that root as well.
    assert f"namespace.{ns}:secret.kv/app" in recorded_objects(in_namespace(bao, parent), path=record)


@pytest.mark.parametrize("name,message", [("a:b", "namespaces"), ("a/b", "namespaces")])
def test_a_namespace_name_that_is_no_name_is_refused_offline(run_cli, tmp_path, name, message):
    spec = write(tmp_path, "spec.yaml", f'version: 1\nnamespaces:\n  "{name}": {{}}\n')
    result = run_cli(["validate", spec])
    assert result.exit_code == 1 and "spec.yaml:3" in result.stderr and message in result.stderr, str(result)


def test_problems_inside_a_namespace_name_the_line_in_the_file(run_cli, tmp_path):
    spec = write(tmp_path, "spec.yaml", textwrap.dedent("""\
        version: 1
        namespaces:
          team:
            policies:
              bad: |
                path "kv/*" { capabilities = ["reed"] }
        """))
    result = run_cli(["validate", spec])
    assert result.exit_code == 1 and "spec.yaml:" in result.stderr and "reed" in result.stderr, str(result)
    assert "Traceback" not in result.output


def test_auth_users_and_identity_live_in_the_namespace(run_cli, vault_env, tmp_path, bao, root, unique):
    ns, record = unique("ns"), unique("rec")
    password = f"pw-{unique('x')}-Zq!"
    spec = write(tmp_path, "spec.yaml", textwrap.dedent(f"""\
        version: 1
        vault:
          record: {{path: {record}}}
        namespaces:
          {ns}:
            auth:
              userpass:
                type: userpass
                users:
                  alice: {{password: {{env: NS_ALICE_PW}}, token_policies: [reader]}}
            policies:
              reader: |
                path "kv/data/*" {{ capabilities = ["read"] }}
              group-only: |
                path "kv/metadata/*" {{ capabilities = ["list"] }}
            identity:
              entities:
                alice:
                  aliases: [{{mount: userpass, name: alice}}]
              groups:
                devs: {{members: [alice], policies: [group-only]}}
        """))
    env = {**vault_env, "NS_ALICE_PW": password}
    result = run_cli(["apply", spec, "--auto-approve"], env=env)
    assert result.exit_code == 0, str(result)
    assert run_cli(["plan", spec, "--detailed-exitcode"], env=env).exit_code == 0
    login = in_namespace(bao, ns).auth.userpass.login("alice", password)["auth"]
    assert "reader" in login["token_policies"] and login["identity_policies"] == ["group-only"]
    assert "userpass/" not in root.sys.list_auth_methods()["data"]
    assert password not in result.output


def test_allow_destroy_and_prevent_destroy_name_the_namespace(run_cli, vault_env, tmp_path, root, unique):
    ns, record = unique("ns"), unique("rec")
    protected = spec_text(record, ns).replace("custom_metadata: {team: payments}",
                                              "custom_metadata: {team: payments}\n    prevent_destroy: true")
    spec = write(tmp_path, "spec.yaml", protected)
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    gone_text = f"version: 1\nvault:\n  record: {{path: {record}}}\nallow_destroy: ['namespace.{ns}*']\n"
    gone = write(tmp_path, "gone.yaml", gone_text)
    refused = run_cli(["plan", gone, "--allow-destroy"], env=vault_env)
    assert refused.exit_code == 1 and "prevent_destroy" in refused.stderr and f"namespace.{ns}" in refused.stderr, \
        str(refused)
    # Unprotected first, then the spec's allow_destroy pattern is consent enough.
    assert run_cli(["apply", write(tmp_path, "spec2.yaml", spec_text(record, ns)), "--auto-approve"],
                   env=vault_env).exit_code == 0
    result = run_cli(["apply", gone, "--auto-approve"], env=vault_env)
    assert result.exit_code == 0, str(result)
    assert not namespace_exists(root, ns)


def test_a_planner_token_plans_a_namespace_from_the_printed_policy(run_cli, vault_env, tmp_path, bao, root, unique):
    ns, record = unique("ns"), unique("rec")
    spec = write(tmp_path, "spec.yaml", spec_text(record, ns))
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    policy = run_cli(["planner-policy", spec], env=vault_env)
    assert policy.exit_code == 0 and f'"{ns}/sys/mounts"' in policy.stdout, str(policy)
    name = f"planner-{ns}"
    root.sys.create_or_update_acl_policy(name, policy.stdout)
    token = root.auth.token.create(policies=[name], no_default_policy=True, ttl="10m")["auth"]["client_token"]
    planner = {**vault_env, "VAULT_TOKEN": token}
    assert run_cli(["plan", spec, "--detailed-exitcode"], env=planner).exit_code == 0
    in_namespace(bao, ns).sys.create_or_update_policy("reader", 'path "kv/*" { capabilities = ["list"] }')
    drift = run_cli(["plan", spec, "--detailed-exitcode"], env=planner)
    assert drift.exit_code == 2 and f"namespace.{ns}:policy.reader" in drift.stdout, str(drift)
    # It reads no secret inside the namespace.
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=bao.address, token=token, namespace=ns).secrets.kv.v2.read_secret_version(
            path="app", mount_point="kv", raise_on_deleted_version=True)


def test_an_error_inside_a_namespace_names_it(run_cli, vault_env, tmp_path, root, unique):
    ns, record = unique("ns"), unique("rec")
    spec = write(tmp_path, "spec.yaml", spec_text(record, ns))
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    # A token that may read the root's tables and record but nothing in the namespace.
    policy = run_cli(["planner-policy", spec], env=vault_env).stdout
    kept = "\n\n".join(block for block in policy.split("\n\n") if f'"{ns}/' not in block)
    root.sys.create_or_update_acl_policy(f"no-{ns}", kept)
    token = root.auth.token.create(policies=[f"no-{ns}"], no_default_policy=True, ttl="10m")["auth"]["client_token"]
    result = run_cli(["plan", spec], env={**vault_env, "VAULT_TOKEN": token})
    assert result.exit_code == 1 and f"(in namespace {ns})" in result.stderr, str(result)
    assert "Traceback" not in result.output


def test_the_bulk_guard_counts_a_namespace_s_objects_by_their_own_kind():
    from vaultform.safety import kind_of

    assert kind_of("namespace.team-a:policy.reader") == "namespace.team-a:policy"
    assert kind_of("namespace.team-a:secret.kv/a.b") == "namespace.team-a:secret"
    assert kind_of("namespace.team-a") == "namespace"
    assert kind_of("policy.reader") == "policy"


def test_prune_in_a_namespace_deletes_only_what_it_holds_and_the_root_s_prune_stays_out(run_cli, vault_env, tmp_path):
    """A namespace's own `prune:` deletes objects made by hand in it and
    nothing at the root; the root's `prune:` never reaches into a namespace.
    A server of its own: pruning at the root must know everything in it."""
    from tests.support.bao import BaoDevServer

    with BaoDevServer() as server:
        root = server.client()
        env = {**vault_env, "VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token}
        spec_body = textwrap.dedent("""\
            version: 1
            {root_prune}
            policies:
              kept: 'path "a/*" {{ capabilities = ["read"] }}'
            namespaces:
              team:
                {ns_prune}
                policies:
                  kept: 'path "a/*" {{ capabilities = ["read"] }}'
                secrets_engines:
                  kv: {{type: kv-v2}}
                auth:
                  approle:
                    type: approle
                    roles:
                      ci: {{token_ttl: 1h}}
                token_roles:
                  deploy: {{orphan: true}}
            """)

        def spec(root_prune: str = "", ns_prune: str = "") -> str:
            return write(tmp_path, "spec.yaml", spec_body.format(root_prune=root_prune, ns_prune=ns_prune))

        assert run_cli(["apply", spec(), "--auto-approve"], env=env).exit_code == 0
        inside = in_namespace(server, "team")
        policy = 'path "b/*" { capabilities = ["read"] }'
        for client in (root, inside):  # the same hand-made objects at the root and in the namespace
            client.sys.create_or_update_policy("by-hand", policy)
            client.sys.enable_secrets_engine("kv", path="hand-kv")
            client.write("auth/token/roles/hand-tr", orphan=True)
        inside.write("auth/approle/role/hand-role", token_ttl="1h")
        assert run_cli(["plan", spec(), "--detailed-exitcode"], env=env).exit_code == 0  # opt-in

        everything = ("{policies: true, secrets_engines: true, auth_roles: true, token_roles: true, "
                      "auth_methods: true}")
        in_ns = spec(ns_prune=f"prune: {everything}")
        planned = run_cli(["plan", in_ns, "--allow-destroy", "--format", "json"], env=env)
        assert planned.exit_code == 0, str(planned)
        changes = {c["address"]: c for c in json.loads(planned.stdout)["changes"]}
        assert set(changes) == {"namespace.team:policy.by-hand", "namespace.team:secrets_engine.hand-kv",
                                "namespace.team:approle_role.approle/hand-role", "namespace.team:token_role.hand-tr"}, \
            str(planned)
        assert all(c["action"] == "delete" and "in namespace team" in c["reason"] for c in changes.values())
        assert run_cli(["apply", in_ns, "--auto-approve", "--allow-destroy"], env=env).exit_code == 0
        assert run_cli(["plan", in_ns, "--detailed-exitcode"], env=env).exit_code == 0
        # Gone from the namespace; the managed ones and the built-ins kept there; the root untouched.
        # (Measured on OpenBao 2.7.2: a namespace lists "default" but no "root" policy.)
        assert set(inside.sys.list_acl_policies()["data"]["keys"]) == {"default", "kept"}
        assert "hand-kv/" not in inside.read("sys/mounts")["data"] and "kv/" in inside.read("sys/mounts")["data"]
        assert {"token/", "approle/"} <= set(inside.read("sys/auth")["data"])
        assert inside.read("auth/approle/role/hand-role") is None and inside.read("auth/approle/role/ci")
        assert inside.read("auth/token/roles/hand-tr") is None and inside.read("auth/token/roles/deploy")
        assert "by-hand" in root.sys.list_acl_policies()["data"]["keys"]
        assert "hand-kv/" in root.read("sys/mounts")["data"] and root.read("auth/token/roles/hand-tr")

        # A planner token from the printed policy lists what the namespace's prune: needs.
        printed = run_cli(["planner-policy", in_ns], env=env)
        assert printed.exit_code == 0 and '"team/sys/policies/acl/"' in printed.stdout, str(printed)
        root.sys.create_or_update_acl_policy("planner", printed.stdout)
        token = root.auth.token.create(policies=["planner"], no_default_policy=True, ttl="10m")["auth"]["client_token"]
        inside.write("auth/token/roles/hand-tr-2", orphan=True)
        planner = run_cli(["plan", in_ns, "--allow-destroy", "--format", "json"], env={**env, "VAULT_TOKEN": token})
        assert planner.exit_code == 0, str(planner)
        assert [c["address"] for c in json.loads(planner.stdout)["changes"]] == ["namespace.team:token_role.hand-tr-2"]

        # The root's prune: deletes the root's hand-made objects, nothing in the namespace.
        inside.sys.create_or_update_policy("by-hand-2", policy)
        at_root = spec(root_prune=f"prune: {everything}")
        planned = run_cli(["plan", at_root, "--allow-destroy", "--format", "json"], env=env)
        assert planned.exit_code == 0, str(planned)
        addresses = {c["address"] for c in json.loads(planned.stdout)["changes"]}
        assert addresses == {"policy.by-hand", "policy.planner", "secrets_engine.hand-kv", "token_role.hand-tr",
                             "secrets_engine.secret"}, str(planned)  # secret/ is the dev server's own
        assert run_cli(["apply", at_root, "--auto-approve", "--allow-destroy"], env=env).exit_code == 0
        assert "by-hand-2" in inside.sys.list_acl_policies()["data"]["keys"]
        assert "kept" in inside.sys.list_acl_policies()["data"]["keys"]


def test_namespaces_nest_made_parent_first_and_deleted_child_first(run_cli, vault_env, tmp_path, bao, root, unique):
    """`namespaces:` inside a namespace's body: namespace.<a>/<b>, made in <a>
    after it, its objects addressed namespace.<a>/<b>:..., read and written
    with X-Vault-Namespace <a>/<b>; removed, the child goes before its parent
    (OpenBao refuses to delete a namespace holding another)."""
    a, b, record = unique("outer"), unique("inner"), unique("rec")
    text = textwrap.dedent(f"""\
        version: 1
        vault:
          record: {{path: {record}}}
        namespaces:
          {a}:
            policies:
              p: 'path "x/*" {{ capabilities = ["read"] }}'
            namespaces:
              {b}:
                custom_metadata: {{level: "2"}}
                secrets_engines:
                  kv: {{type: kv-v2}}
                secrets:
                  kv/app: {{user: bob}}
                token_roles:
                  deploy: {{orphan: true}}
        """)
    spec = write(tmp_path, "spec.yaml", text)
    result = run_cli(["apply", spec, "--auto-approve"], env=vault_env)
    assert result.exit_code == 0, str(result)
    out = result.stdout
    assert out.index(f"] namespace.{a}: creating") < out.index(f"] namespace.{a}/{b}: creating") \
        < out.index(f"] namespace.{a}/{b}:secrets_engine.kv: creating"), out
    assert run_cli(["plan", spec, "--detailed-exitcode"], env=vault_env).exit_code == 0

    deep = in_namespace(bao, f"{a}/{b}")
    assert deep.secrets.kv.v2.read_secret_version(path="app", mount_point="kv",
                                                  raise_on_deleted_version=True)["data"]["data"] == {"user": "bob"}
    assert deep.read("auth/token/roles/deploy")["data"]["orphan"] is True
    assert in_namespace(bao, a).read(f"sys/namespaces/{b}")["data"]["custom_metadata"] == {"level": "2"}
    assert not namespace_exists(root, b)  # made in its parent, not at the root
    recorded = recorded_objects(root, path=record)
    assert recorded[f"namespace.{a}/{b}:secret.kv/app"]["namespace"] == f"{a}/{b}"

    # Drift two levels down is seen there; a planner token from the printed policy sees it too.
    deep.write("auth/token/roles/deploy", orphan=False)
    printed = run_cli(["planner-policy", spec], env=vault_env)
    assert printed.exit_code == 0 and f'"{a}/sys/namespaces/{b}"' in printed.stdout, str(printed)
    root.sys.create_or_update_acl_policy(f"planner-{a}", printed.stdout)
    token = root.auth.token.create(policies=[f"planner-{a}"], no_default_policy=True, ttl="10m")["auth"]["client_token"]
    drift = run_cli(["plan", spec, "--detailed-exitcode"], env={**vault_env, "VAULT_TOKEN": token})
    assert drift.exit_code == 2 and f"~ namespace.{a}/{b}:token_role.deploy" in drift.stdout, str(drift)

    # Everything removed: refused without consent, then child before parent.
    gone = write(tmp_path, "gone.yaml", f"version: 1\nvault:\n  record: {{path: {record}}}\n")
    refused = run_cli(["plan", gone], env=vault_env)
    assert refused.exit_code == 1 and f"namespace.{a}" in refused.stderr, str(refused)
    planned = run_cli(["plan", gone, "--allow-destroy"], env=vault_env)
    assert f"deleting namespace {a} destroys everything in it: policies p; namespaces {b}" in planned.stdout, \
        str(planned)
    allowed = run_cli(["apply", gone, "--auto-approve", "--allow-destroy"], env=vault_env)
    assert allowed.exit_code == 0, str(allowed)
    out = allowed.stdout
    assert out.index(f"namespace.{a}/{b}:secret.kv/app") < out.index(f"] namespace.{a}/{b}: destroying") \
        < out.index(f"] namespace.{a}: destroying"), out
    assert not namespace_exists(root, a)
    assert not [address for address in recorded_objects(root, path=record) if a in address]
    assert run_cli(["plan", gone, "--detailed-exitcode"], env=vault_env).exit_code == 0


def test_a_namespace_holding_one_it_does_not_delete_is_refused_in_the_plan(run_cli, vault_env, tmp_path, bao, root,
                                                                          unique):
    """OpenBao refuses to delete a namespace holding another (400, measured on
    2.7.2), so a plan that deletes one whose child stays is refused before any
    write, whatever allows the deletion, naming the child."""
    ns, record = unique("ns"), unique("rec")
    spec = write(tmp_path, "spec.yaml", spec_text(record, ns, contents=False))
    assert run_cli(["apply", spec, "--auto-approve"], env=vault_env).exit_code == 0
    in_namespace(bao, ns).write("sys/namespaces/by-hand")
    gone = write(tmp_path, "gone.yaml", f"version: 1\nvault:\n  record: {{path: {record}}}\n")
    refused = run_cli(["apply", gone, "--auto-approve", "--allow-destroy"], env=vault_env)
    assert refused.exit_code == 1, str(refused)
    assert f"refusing to delete namespace.{ns}: it holds namespace(s) by-hand" in refused.stderr, str(refused)
    assert namespace_exists(root, ns) and namespace_exists(in_namespace(bao, ns), "by-hand")


def test_a_nested_namespace_is_checked_offline_like_a_top_level_one(run_cli, tmp_path):
    """namespaces: inside a body takes the same schema (names, fields) and the
    same checks, each problem located in the file."""
    bad_name = write(tmp_path, "name.yaml", 'version: 1\nnamespaces:\n  team:\n    namespaces:\n      "a:b": {}\n')
    result = run_cli(["validate", bad_name])
    assert result.exit_code == 1 and "name.yaml:5" in result.stderr, str(result)
    bad_field = write(tmp_path, "field.yaml", "version: 1\nnamespaces:\n  team:\n    namespaces:\n      batch:\n"
                                              "        secrets_enignes: {}\n")
    result = run_cli(["validate", bad_field])
    assert result.exit_code == 1 and "field.yaml:6" in result.stderr and "secrets_enignes" in result.stderr, \
        str(result)
    good = write(tmp_path, "good.yaml", "version: 1\nnamespaces:\n  team:\n    namespaces:\n      batch:\n"
                                        "        prune: {policies: true}\n        token_roles: {ci: {orphan: true}}\n")
    result = run_cli(["validate", good])
    assert result.exit_code == 0 and "2 namespaces" in result.stdout, str(result)
    assert "Traceback" not in result.output
