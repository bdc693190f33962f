"""Names are data, never URL syntax: every class of name the fuzzer broke
vaultform with, refused by validate with its location and, should one get
past, by the one place request paths are built. Names Vault accepts, however
odd (spaces, unicode), round-trip exactly."""

from __future__ import annotations

import textwrap

import hvac
import pytest
import yaml

from vaultform.connection import VaultAPI
from vaultform.errors import VaultRequestError
from vaultform.names import UnsafeName, url_path

POLICY = 'path "x" { capabilities = ["read"] }'


@pytest.mark.parametrize("section, name, problem", [
    ("secrets", "kv1/../sys/policies/acl/evil", "has a '..' part"),
    ("secrets", "kv1/./a", "has a '.' part"),
    ("secrets", "kv1/a?b", "contains '?'"),
    ("secrets", "kv1/a#b", "contains '#'"),
    ("secrets", "kv1/a%2Fb", "contains '%'"),
    ("secrets", "kv1/a\\b", "contains '\\\\'"),
    ("secrets", "kv1/a\tb", "has an invalid name"),  # the schema's: no white space in secret paths
    ("secrets", "kv1/ a", "has an invalid name"),
    ("policies", "a\x7fb", "contains a control character"),
    ("policies", " a", "has a part that starts or ends with white space"),
    ("policies", "a?b", "contains '?'"),
    ("policies", "a#b", "contains '#'"),
    ("policies", "a%2fb", "contains '%'"),
    ("policies", "../x", "has a '..' part"),
    ("secrets_engines", "x/./y", "has a '.' part"),
    ("secrets_engines", "x/../y", "has a '..' part"),
    # Not printable: OpenBao answers 400 for a path holding one (measured).
    ("policies", "a\u00a0b", "contains a character that is not printable"),
    ("policies", "x\u200by", "contains a character that is not printable"),
    ("policies", "x\ufeff", "contains a character that is not printable"),
])
def test_validate_refuses_names_that_are_url_syntax(run_cli, tmp_path, section, name, problem):
    doc = {"version": 1, "secrets_engines": {"kv1": {"type": "kv"}}}
    if section == "secrets":
        doc["secrets"] = {name: {"k": {"env": "NAMES_UNSET"}}}
    elif section == "policies":
        doc["policies"] = {name: POLICY}
    else:
        doc["secrets_engines"][name] = {"type": "kv"}
    spec = tmp_path / "vault.yaml"
    spec.write_text(yaml.safe_dump(doc))
    result = run_cli(["validate", str(spec)], env={"VAULT_ADDR": "http://127.0.0.1:9"})
    assert result.exit_code == 1, str(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert any(f"{section}.{name}: the name {problem}" in e or f"{section}.{name}: {problem}" in e
               for e in errors), str(result)
    assert all(str(spec) + ":" in e for e in errors), errors  # file and line named
    assert "Traceback" not in result.output


@pytest.mark.parametrize("role", ["-lead", "trail-", "a b", "a;b", "a/b", "é-"])
def test_validate_refuses_role_names_vault_refuses(run_cli, tmp_path, role):
    spec = tmp_path / "vault.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "auth": {"kubernetes": {"type": "kubernetes", "roles": {
        role: {"bound_service_account_names": ["a"], "bound_service_account_namespaces": ["b"]}}}}}))
    result = run_cli(["validate", str(spec)], env={})
    assert result.exit_code == 1, str(result)
    assert f"auth.kubernetes.roles.{role}: the name" in result.stderr, str(result)


def test_the_request_path_builder_refuses_what_validate_would_and_encodes_the_rest():
    for bad in ("kv/../sys/policies/acl/x", "sys/policies/acl/a?b", "kv/data/a#b", "kv/data/a%2Fb", "kv//x",
                "kv/data/./x", "kv/data/a\nb"):
        with pytest.raises(UnsafeName):
            url_path(bad)
    assert url_path("kv/data/with space/café") == "kv/data/with%20space/caf%C3%A9"
    assert url_path("kv/metadata/dir/") == "kv/metadata/dir/"
    assert url_path("auth/k8s/role/a.b-c_d@e") == "auth/k8s/role/a.b-c_d%40e"


def test_an_unsafe_path_never_reaches_vault_even_past_validate(bao, root, unique):
    api = VaultAPI(bao.address, bao.root_token)
    name = unique("evil")
    with pytest.raises(UnsafeName):
        api.write(f"secret/data/../../sys/policies/acl/{name}", {"policy": 'path "*" { capabilities = ["sudo"] }'})
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.sys.read_policy(name)


def test_a_404_on_a_write_is_a_failure_naming_the_path(bao):
    api = VaultAPI(bao.address, bao.root_token)
    with pytest.raises(VaultRequestError) as caught:
        api.write("no-such-mount-anywhere/data/x", {"data": {"k": "v"}})
    assert "POST no-such-mount-anywhere/data/x failed" in caught.value.message
    assert "404" in caught.value.message


def test_odd_names_vault_accepts_round_trip_exactly(run_cli, vault_env, root, unique, tmp_path):
    kv = unique("oddkv")
    policy = unique("pol") + "-café"
    spec = tmp_path / "vault.yaml"
    spec.write_text(textwrap.dedent(f"""\
        version: 1
        vault: {{record: {{path: {unique("rec")}}}}}
        secrets_engines:
          {kv}: {{type: kv, options: {{version: "2"}}}}
        policies:
          {policy}: '{POLICY}'
        secrets:
          "{kv}/odd-dir/ünïcode@[1]+x":
            k: {{env: ODD_VALUE}}
        """), encoding="utf-8")
    env = {**vault_env, "ODD_VALUE": "v"}
    result = run_cli(["apply", str(spec), "--auto-approve"], env=env)
    assert result.exit_code == 0, str(result)
    assert root.secrets.kv.v2.read_secret_version("odd-dir/ünïcode@[1]+x", mount_point=kv,
                                                  raise_on_deleted_version=True)["data"]["data"] == {"k": "v"}
    assert root.secrets.kv.v2.list_secrets("", mount_point=kv)["data"]["keys"] == ["odd-dir/"]
    assert root.sys.read_policy(policy)["data"]["rules"] == POLICY
    again = run_cli(["plan", str(spec), "--detailed-exitcode"], env=env)
    assert again.exit_code == 0, str(again)


def test_host_cidrs_settle_as_vault_stores_them(run_cli, vault_env, unique, tmp_path):
    """Vault keeps a one-host token_bound_cidrs entry as the bare address;
    secret_id_bound_cidrs as written. Both converge."""
    k8s, approle = unique("k8s"), unique("approle")
    spec = tmp_path / "vault.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "vault": {"record": {"path": unique("rec")}}, "auth": {
        k8s: {"type": "kubernetes", "roles": {"r": {
            "bound_service_account_names": ["a"], "bound_service_account_namespaces": ["b"],
            "token_bound_cidrs": ["10.0.0.5/32", "::1/128", "10.0.0.0/24", "10.1.2.3/24"]}}},
        approle: {"type": "approle", "roles": {"r": {
            "secret_id_bound_cidrs": ["10.0.0.5/32"], "token_bound_cidrs": "10.0.0.6/32,10.9.0.0/16"}}}}}))
    result = run_cli(["apply", str(spec), "--auto-approve"], env=vault_env)
    assert result.exit_code == 0, str(result)
    again = run_cli(["plan", str(spec), "--detailed-exitcode"], env=vault_env)
    assert again.exit_code == 0, str(again)


def test_tuning_a_mount_table_ignores_is_refused_and_force_no_cache_replaces(run_cli, vault_env, root, unique,
                                                                              tmp_path):
    kv, up = unique("nocache"), unique("up")
    spec = tmp_path / "vault.yaml"

    def write(config: dict, extra: dict = None) -> None:
        doc = {"version": 1, "vault": {"record": {"path": "rec-" + kv}},
               "secrets_engines": {kv: {"type": "kv", "options": {"version": "2"}, "config": config}}}
        doc.update(extra or {})
        spec.write_text(yaml.safe_dump(doc))

    write({"token_type": "batch"})
    result = run_cli(["validate", str(spec)], env={})
    assert result.exit_code == 1 and f"secrets_engines.{kv}.config.token_type: token_type is for auth methods only" \
        in result.stderr, str(result)
    write({}, {"auth": {up: {"type": "userpass", "tune": {"force_no_cache": True}}}})
    result = run_cli(["validate", str(spec)], env={})
    assert result.exit_code == 1 and f"auth.{up}.tune.force_no_cache: an auth method ignores" in result.stderr, \
        str(result)

    # On a secrets engine it holds when set at creation, and changing it re-creates the engine.
    write({"force_no_cache": True})
    assert run_cli(["apply", str(spec), "--auto-approve"], env=vault_env).exit_code == 0
    assert root.read("sys/mounts")["data"][f"{kv}/"]["config"]["force_no_cache"] is True
    assert run_cli(["plan", str(spec), "--detailed-exitcode"], env=vault_env).exit_code == 0
    write({"force_no_cache": False})
    plan = run_cli(["plan", str(spec), "--allow-destroy"], env=vault_env)
    assert f"-/+ secrets_engine.{kv}" in plan.stdout, str(plan)
    assert run_cli(["apply", str(spec), "--auto-approve", "--allow-destroy"], env=vault_env).exit_code == 0
    assert root.read("sys/mounts")["data"][f"{kv}/"]["config"]["force_no_cache"] is False
    assert run_cli(["plan", str(spec), "--detailed-exitcode"], env=vault_env).exit_code == 0


def test_keys_yaml_reads_as_numbers_keep_their_text(run_cli, vault_env, root, unique, tmp_path):
    """A key is a name: `010:` is the key "010", not YAML 1.1's integer 8
    written back as "8" (likewise 0x10, 1_000, +5, 1.10, 0o7)."""
    kv = unique("numkv")
    spec = tmp_path / "vault.yaml"
    spec.write_text(textwrap.dedent(f"""\
        version: 1
        vault: {{record: {{path: {unique("rec")}}}}}
        secrets_engines:
          {kv}: {{type: kv, options: {{version: "2"}}}}
        secrets:
          {kv}/numbers:
            010: a
            0x10: b
            1_000: c
            +5: d
            1.10: e
            12: f
            0o7: g
        """), encoding="utf-8")
    result = run_cli(["apply", str(spec), "--auto-approve"], env=vault_env)
    assert result.exit_code == 0, str(result)
    stored = root.secrets.kv.v2.read_secret_version("numbers", mount_point=kv,
                                                    raise_on_deleted_version=True)["data"]["data"]
    assert stored == {"010": "a", "0x10": "b", "1_000": "c", "+5": "d", "1.10": "e", "12": "f", "0o7": "g"}
    again = run_cli(["plan", str(spec), "--detailed-exitcode"], env=vault_env)
    assert again.exit_code == 0, str(again)
