"""`{env: NAME, default: {generate: {...}}}`: the variable when it is set, else a
generated value that behaves like any other (made once, never overwritten,
never printed); and a missing variable is reported once, not twice.

Against the session's real OpenBao dev server (kv-v2 at secret/).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vault.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the schema: one source per value, the fallback only for env, only a generator -----

@pytest.mark.parametrize("source, ok", [
    ("{env: UX_PW, default: {generate: {length: 16}}}", True),
    ("{env: UX_PW, default: {generate: {}}}", True),
    ("{env: UX_PW}", True),
    ("{file: pw.txt, default: {generate: {length: 16}}}", False),
    ("{generate: {length: 16}, default: {generate: {length: 16}}}", False),
    ("{env: UX_PW, default: {env: OTHER}}", False),
    ("{env: UX_PW, default: static}", False),
    ("{env: UX_PW, default: {generate: {length: 2}}}", False),
    ("{default: {generate: {length: 16}}}", False),
    ("{env: UX_PW, file: pw.txt}", False),
])
def test_which_sources_the_schema_takes(run_cli, tmp_path, source, ok):
    (tmp_path / "pw.txt").write_text("x", encoding="utf-8")
    path = _spec(tmp_path, f"version: 1\nsecrets:\n  secret/app:\n    password: {source}\n")
    result = run_cli(["validate", str(path)], env={"UX_PW": None})
    assert result.exit_code == (0 if ok else 1), str(result)
    if not ok:
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
        assert errors and all(f"{path}:4:" in line and "secrets.secret/app.password" in line for line in errors), \
            str(result)


def test_validate_warns_of_an_unset_variable_only_without_a_fallback(run_cli, tmp_path):
    path = _spec(tmp_path, "version: 1\nsecrets:\n  secret/app:\n"
                           "    with_fallback: {env: UX_UNSET_A, default: {generate: {length: 16}}}\n"
                           "    without: {env: UX_UNSET_B}\n")
    result = run_cli(["validate", str(path)], env={"UX_UNSET_A": None, "UX_UNSET_B": None})
    assert result.exit_code == 0, str(result)
    assert "UX_UNSET_A" not in result.stderr and result.stderr.count("UX_UNSET_B") == 1, str(result)


def test_the_shipped_example_validates_without_warnings(run_cli):
    result = run_cli(["validate", str(ROOT / "examples" / "vault.yaml")], env={"WEBAPP_PASSWORD": None})
    assert result.exit_code == 0 and result.stderr == "", str(result)
    text = (ROOT / "examples" / "vault.yaml").read_text(encoding="utf-8")
    assert "{env: WEBAPP_PASSWORD, default: {generate:" in text


# -- against Vault: generated while unset, the variable once set ---------------------

def test_a_generated_fallback_is_made_once_kept_and_never_printed(run_cli, vault_env, root, tmp_path, unique):
    path = unique("fallback")
    spec = _spec(tmp_path, f"version: 1\nsecrets:\n  secret/{path}:\n"
                           "    password: {env: UX_FALLBACK_PW, default: {generate: {length: 24, charset: hex}}}\n")
    unset = {**vault_env, "UX_FALLBACK_PW": None}
    outputs = []

    def run(*args, env=unset):
        result = run_cli(list(args), env=env)
        outputs.append(result.output)
        return result

    first = run("apply", str(spec), "--auto-approve")
    assert first.exit_code == 0, str(first)
    generated = root.secrets.kv.v2.read_secret_version(path=path, mount_point="secret",
                                                        raise_on_deleted_version=True)["data"]["data"]["password"]
    assert re.fullmatch(r"[0-9a-f]{24}", generated)

    again = run("plan", str(spec), "--detailed-exitcode")
    assert again.exit_code == 0 and "No changes" in again.stdout, str(again)  # kept, not drawn again
    saved = tmp_path / "saved.plan"
    assert run("plan", str(spec), "--out", str(saved)).exit_code == 0
    assert run("apply", str(saved)).exit_code == 0
    assert root.secrets.kv.v2.read_secret_version(path=path, mount_point="secret",
                                                  raise_on_deleted_version=True)["data"]["data"]["password"] == generated

    from_env = f"env-{secrets.token_hex(8)}"
    with_env = {**vault_env, "UX_FALLBACK_PW": from_env}
    changed = run("apply", str(spec), "--auto-approve", env=with_env)
    assert changed.exit_code == 0 and "password : (sensitive value changed)" in changed.stdout, str(changed)
    assert root.secrets.kv.v2.read_secret_version(path=path, mount_point="secret",
                                                  raise_on_deleted_version=True)["data"]["data"]["password"] == from_env
    # Unset again: the value in Vault stays, as a generated value would.
    assert run("plan", str(spec), "--detailed-exitcode").exit_code == 0
    for output in outputs:
        assert generated not in output and from_env not in output, output


def test_a_missing_variable_is_reported_once(run_cli, vault_env, tmp_path, unique):
    spec = _spec(tmp_path, f"version: 1\nsecrets:\n  secret/{unique('missing')}:\n"
                           "    password: {env: UX_SURELY_MISSING}\n")
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = run_cli([*command, str(spec)], env={**vault_env, "UX_SURELY_MISSING": None})
        assert result.exit_code == 1, str(result)
        mentions = [line for line in result.output.splitlines() if "UX_SURELY_MISSING" in line]
        assert len(mentions) == 1 and mentions[0].startswith(f"Error: {spec}:4:15: "), str(result)
        assert "is not set" in mentions[0]
