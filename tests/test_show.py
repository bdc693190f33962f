"""`vaultform show PLANFILE [--format text|json|markdown]`: a saved plan rendered
without Vault, exactly as `plan` rendered it when it was saved (so what CI
posts for review is what `apply PLANFILE` applies)."""

from __future__ import annotations

import secrets

import yaml

PASSWORD = f"pw-{secrets.token_hex(8)}-never-shown"
OLD_POLICY = 'path "secret/data/app/*" {\n  capabilities = ["read"]\n}\n\npath "sys/leases/renew" {\n' \
             '  capabilities = ["update"]\n}\n'


def _write(path, unique_names, policy_text, more: bool = False):
    mount, policy, record = unique_names
    secrets_ = {f"{mount}/app/config": {"username": "app", "password": {"env": "SHOW_PASSWORD"}}}
    engines = {mount: {"type": "kv", "options": {"version": "2"}, "description": "app secrets"}}
    if more:  # creations too: their fields must come out in the same order
        secrets_[f"{mount}/app/new"] = {"zeta": "z", "alpha": {"generate": {"length": 16}}, "mid": 3}
        engines[f"{mount}-transit"] = {"type": "transit", "description": "keys"}
    path.write_text(yaml.safe_dump({
        "version": 1, "vault": {"record": {"path": record}},
        "secrets_engines": engines, "policies": {policy: policy_text}, "secrets": secrets_,
    }, sort_keys=False), encoding="utf-8")


def test_show_renders_the_saved_plan_as_plan_did_without_vault(run_cli, vault_env, tmp_path, unique):
    names = (unique("show-kv"), unique("show-pol"), unique("show-record"))
    spec = tmp_path / "vault.yaml"
    env = {**vault_env, "SHOW_PASSWORD": PASSWORD}
    _write(spec, names, OLD_POLICY)
    assert run_cli(["apply", str(spec), "--auto-approve"], env=env).exit_code == 0
    _write(spec, names, OLD_POLICY.replace('["read"]', '["read", "list"]') + '\npath "x/*" {\n  capabilities = ["deny"]\n}\n',
           more=True)
    env["SHOW_PASSWORD"] = PASSWORD + "-changed"

    printed = {}
    for fmt in ("text", "json", "markdown"):
        saved = tmp_path / f"{fmt}.plan"
        result = run_cli(["plan", str(spec), "--out", str(saved), "--format", fmt], env=env)
        assert result.exit_code == 0, str(result)
        printed[fmt] = result.stdout
    # Offline: no address, no token; the spec and the variables are gone too.
    spec.unlink()
    offline = {name: None for name in vault_env} | {"SHOW_PASSWORD": None, "VAULT_ADDR": "http://127.0.0.1:9"}
    for fmt in ("text", "json", "markdown"):
        shown = run_cli(["show", str(tmp_path / f"{fmt}.plan"), "--format", fmt], env=offline)
        assert shown.exit_code == 0, str(shown)
        if fmt == "text":
            head, _, body = shown.stdout.partition("\n\n")
            assert head.startswith(f"Saved plan {tmp_path / 'text.plan'}, made at ") and "applies exactly" in head
            plan_text = printed["text"].split("\nSaved the plan to ")[0]
            assert body == plan_text, f"show:\n{body}\nplan:\n{plan_text}"
            assert '            +  capabilities = ["read", "list"]' in body
            assert "password : (sensitive value changed)" in body
        else:
            assert shown.stdout == printed[fmt], f"show:\n{shown.stdout}\nplan:\n{printed[fmt]}"
        assert PASSWORD not in shown.output


def test_show_refuses_what_is_not_a_saved_plan_and_an_edited_one(run_cli, vault_env, tmp_path, unique):
    spec = tmp_path / "vault.yaml"
    spec.write_text("version: 1\npolicies:\n  x: |\n    path \"a\" { capabilities = [\"read\"] }\n", encoding="utf-8")
    result = run_cli(["show", str(spec)])
    assert result.exit_code == 1 and "is not a plan saved by `vaultform plan --out`" in result.stderr, str(result)
    names = (unique("show-kv"), unique("show-pol"), unique("show-record"))
    _write(spec, names, OLD_POLICY)
    saved = tmp_path / "p.plan"
    assert run_cli(["plan", str(spec), "--out", str(saved)], env={**vault_env, "SHOW_PASSWORD": "x" * 12}).exit_code == 0
    # Offline, show can check the layout only; the content's HMAC is checked by apply, with the key in Vault.
    saved.write_text(saved.read_text().replace('"create"', '"create" ', 1))
    edited = run_cli(["show", str(saved)])
    assert edited.exit_code == 1 and "altered" in edited.stderr, str(edited)
