"""A plan says which side moved: the spec, Vault (by hand), or both (in
words, and in the JSON plan's "moved" for a drift check to act on).

The ownership record keeps a fingerprint of what the last apply left
(non-sensitive fields' state; HMACs of secret values). A reviewer reading a
pull request's plan must be able to tell drift from an intended change, so
the reason names the side whenever the fingerprints can tell. Against the
session's shared OpenBao dev server, each test with its own names.
"""

from __future__ import annotations

import json

import yaml

# (the plan's reason, the JSON plan's "moved")
SPEC_MOVED = ("changed in the spec", "spec")
VAULT_MOVED = ("changed in Vault since the last apply", "vault")
BOTH_MOVED = ("changed in the spec and in Vault since the last apply", "both")
CANNOT_TELL = ("changed in the spec or drifted in Vault", None)


def _write(path, unique_record: str, sections: dict) -> None:
    path.write_text(yaml.safe_dump({"version": 1, "vault": {"record": {"path": unique_record}}, **sections}),
                    encoding="utf-8")


def _reasons(run_cli, spec, env) -> dict:
    result = run_cli(["plan", str(spec), "--format", "json"], env=env)
    assert result.exit_code == 0, str(result)
    return {c["address"]: (c["reason"], c["moved"]) for c in json.loads(result.stdout)["changes"]}


def _apply(run_cli, spec, env) -> None:
    result = run_cli(["apply", str(spec), "--auto-approve"], env=env)
    assert result.exit_code == 0, str(result)


def test_a_role_changed_by_hand_in_the_spec_or_both(run_cli, vault_env, root, tmp_path, unique):
    mount = unique("reasons-approle")
    spec = tmp_path / "vault.yaml"

    def sections(ttl: str) -> dict:
        return {"auth": {mount: {"type": "approle", "roles": {"ci": {"token_ttl": ttl, "token_policies": ["a"]}}}}}

    _write(spec, unique("reasons-record"), sections("1h"))
    _apply(run_cli, spec, vault_env)
    address = f"approle_role.{mount}/ci"
    assert _reasons(run_cli, spec, vault_env) == {}

    root.write(f"auth/{mount}/role/ci", token_ttl="2h", token_policies="a")
    assert _reasons(run_cli, spec, vault_env) == {address: VAULT_MOVED}

    spec_text = spec.read_text()
    _write(spec, yaml.safe_load(spec_text)["vault"]["record"]["path"], sections("3h"))
    assert _reasons(run_cli, spec, vault_env) == {address: BOTH_MOVED}

    root.write(f"auth/{mount}/role/ci", token_ttl="1h", token_policies="a")  # back as applied
    assert _reasons(run_cli, spec, vault_env) == {address: SPEC_MOVED}

    _apply(run_cli, spec, vault_env)
    assert _reasons(run_cli, spec, vault_env) == {}

    # A field the spec sets for the first time, and a policy's text.
    policy = unique("reasons-policy")
    grown = sections("3h")
    grown["auth"][mount]["roles"]["ci"]["token_max_ttl"] = "4h"
    _write(spec, yaml.safe_load(spec_text)["vault"]["record"]["path"],
           {**grown, "policies": {policy: 'path "a/*" {\n  capabilities = ["read"]\n}\n'}})
    _apply(run_cli, spec, vault_env)
    grown["auth"][mount]["roles"]["ci"]["token_num_uses"] = 5
    _write(spec, yaml.safe_load(spec_text)["vault"]["record"]["path"],
           {**grown, "policies": {policy: 'path "b/*" {\n  capabilities = ["read"]\n}\n'}})
    assert _reasons(run_cli, spec, vault_env) == {address: SPEC_MOVED, f"policy.{policy}": SPEC_MOVED}
    root.sys.create_or_update_policy(policy, 'path "c/*" { capabilities = ["list"] }')
    assert _reasons(run_cli, spec, vault_env) == {address: SPEC_MOVED, f"policy.{policy}": BOTH_MOVED}


def test_a_role_vaultform_never_applied_cannot_tell(run_cli, vault_env, root, tmp_path, unique):
    mount = unique("reasons-unrecorded")
    root.sys.enable_auth_method("approle", path=mount)
    root.write(f"auth/{mount}/role/ci", token_ttl="2h")
    spec = tmp_path / "vault.yaml"
    _write(spec, unique("reasons-record"), {"auth": {mount: {"type": "approle", "roles": {"ci": {"token_ttl": "1h"}}}}})
    reasons = _reasons(run_cli, spec, vault_env)
    assert reasons[f"approle_role.{mount}/ci"] == CANNOT_TELL, reasons


def test_a_secret_changed_by_hand_in_the_spec_or_both_says_no_value(run_cli, vault_env, root, tmp_path, unique):
    mount = unique("reasons-kv")
    values = tmp_path / "values"
    values.mkdir()
    (values / "password").write_text("first 'value'\n\"quoted\" ünïcode")
    spec = tmp_path / "vault.yaml"
    _write(spec, unique("reasons-record"), {
        "secrets_engines": {mount: {"type": "kv", "options": {"version": "2"}}},
        "secrets": {f"{mount}/app": {"password": {"file": str(values / "password")}}}})
    _apply(run_cli, spec, vault_env)
    address = f"secret.{mount}/app"
    assert _reasons(run_cli, spec, vault_env) == {}

    by_hand = "set-by-hand-9f3c"
    root.secrets.kv.v2.create_or_update_secret(mount_point=mount, path="app", secret={"password": by_hand})
    assert _reasons(run_cli, spec, vault_env) == {address: VAULT_MOVED}

    (values / "password").write_text("second value")
    result = run_cli(["plan", str(spec), "--format", "json"], env=vault_env)
    assert {c["address"]: (c["reason"], c["moved"]) for c in json.loads(result.stdout)["changes"]} == \
        {address: BOTH_MOVED}
    assert by_hand not in result.output and "second value" not in result.output, str(result)

    _apply(run_cli, spec, vault_env)
    (values / "password").write_text("third value")
    assert _reasons(run_cli, spec, vault_env) == {address: SPEC_MOVED}
