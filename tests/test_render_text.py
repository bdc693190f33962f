"""The text plan (what `plan` prints and what the `yes` prompt shows).

Multi-line values (policies, PEM certificates, JSON) read as a unified diff
with context, long non-secret strings whole, sensitive values never diffed;
colour on a terminal only, never with NO_COLOR or --no-color.

Rewrite the golden files after an intended change with

    VAULTFORM_UPDATE_GOLDEN=1 pytest tests/test_render_text.py
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_render_formats import (ADDRESS, AUTH, POLICY, SECRET, SECRETS, FakeKind, check_golden, full_plan,
                                       res)
from vaultform.model import ABSENT, ALL_FIELDS, CREATE, UPDATE, Change, FieldChange, Plan
from vaultform.render.text import render_plan

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CERT_KIND = FakeKind("kubernetes_config", 40)
CLUSTER = FakeKind("cluster", 0)

OLD_POLICY = "\n".join(
    ['# webapp reads its own configuration', 'path "secret/data/webapp/config" {', '  capabilities = ["read"]', '}',
     '', 'path "secret/metadata/webapp/*" {', '  capabilities = ["list"]', '}', '',
     'path "sys/leases/renew" {', '  capabilities = ["update"]', '}', '']) + "\n"
NEW_POLICY = OLD_POLICY.replace('capabilities = ["read"]', 'capabilities = ["read", "list"]').replace(
    'path "sys/leases/renew" {\n  capabilities = ["update"]\n}\n',
    'path "sys/leases/renew" {\n  capabilities = ["update"]\n}\n\npath "transit/encrypt/webapp" {\n'
    '  capabilities = ["update"]\n}\n')

CERT_OLD = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUOLD\nAAAAAAAAAAAAAA==\n-----END CERTIFICATE-----\n"
CERT_NEW = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUNEW\nAAAAAAAAAAAAAA==\n-----END CERTIFICATE-----\n"
MULTI_LINE_SECRET = "-----BEGIN PRIVATE KEY-----\nmulti-line-secret-never-print\n-----END PRIVATE KEY-----\n"
LONG_PATH = "/home/someone/projects/platform-team/vault-configuration/.vaultform/cluster-keys.json"


def text_plan() -> Plan:
    return Plan(changes=[
        Change(CREATE, res(CLUSTER, "cluster.init", {"key_shares": 5, "key_threshold": 3, "keys_file": LONG_PATH})),
        Change(UPDATE, res(POLICY, "policy.webapp", {"policy": NEW_POLICY}),
               fields=[FieldChange("policy", OLD_POLICY, NEW_POLICY)], live={"policy": OLD_POLICY},
               reason="changed in the spec or drifted in Vault"),
        Change(UPDATE, res(CERT_KIND, "kubernetes_config.kubernetes"),
               fields=[FieldChange("kubernetes_ca_cert", CERT_OLD, CERT_NEW),
                       FieldChange("pem_keys", ABSENT, [CERT_NEW]),
                       FieldChange("kubernetes_host", "https://k8s.example:6443",
                                   "https://kubernetes.default.svc.cluster.local:6443")],
               live={}, reason="changed in the spec or drifted in Vault"),
        Change(UPDATE, res(AUTH, "auth_method.oidc"),
               fields=[FieldChange("config.options", {"claims": {"groups": "groups", "email": "email"},
                                                      "scopes": ["openid", "profile"]},
                                   {"claims": {"groups": "groups", "email": "email", "name": "name"},
                                    "scopes": ["openid", "profile"]}),
                       FieldChange("description", "line one\r\nline two\r\n", "line one\nline two\n")],
               live={}, reason="drifted in Vault"),
        Change(UPDATE, res(SECRET, "secret.secret/webapp/tls", sensitive={ALL_FIELDS}),
               fields=[FieldChange("key", MULTI_LINE_SECRET, MULTI_LINE_SECRET.replace("never", "NEVER"),
                                   sensitive=True)],
               live={}, reason="changed in the spec or drifted in Vault"),
    ])


def test_text_matches_golden():
    check_golden("plan.txt", render_plan(text_plan(), ADDRESS))


def test_colour_text_matches_golden():
    check_golden("plan-colour.txt", render_plan(text_plan(), ADDRESS, colour=True))


def test_full_plan_matches_golden():
    check_golden("plan-full.txt", render_plan(full_plan(), ADDRESS))


def test_policy_change_is_a_unified_diff_with_context():
    text = render_plan(text_plan(), ADDRESS)
    block = text.split("~ policy.webapp")[1].split("\n\n  ~ ")[0]
    assert "policy : (1 line removed, 5 added)" in block
    assert '            -  capabilities = ["read"]' in block
    assert '            +  capabilities = ["read", "list"]' in block
    assert '            +path "transit/encrypt/webapp" {' in block
    assert '             path "secret/data/webapp/config" {' in block  # context line
    assert "@@ " in block and "bytes)" not in text and "…" not in block


def test_long_strings_are_shown_whole():
    assert f'keys_file     = "{LONG_PATH}"' in render_plan(text_plan(), ADDRESS)


def test_line_endings_only_still_show_the_difference():
    line = next(line for line in render_plan(text_plan(), ADDRESS).splitlines() if "description" in line)
    assert "\\r\\n" in line and " -> " in line


def test_sensitive_values_are_never_diffed_nor_shown():
    for colour in (False, True):
        text = render_plan(text_plan(), ADDRESS, colour=colour) + render_plan(full_plan(), ADDRESS, colour=colour)
        assert "key : (sensitive value changed)" in ANSI.sub("", text)
        for secret in list(SECRETS.values()) + ["multi-line-secret", "PRIVATE KEY"]:
            assert secret not in text


def test_colour_only_adds_escapes():
    plain, coloured = render_plan(text_plan(), ADDRESS), render_plan(text_plan(), ADDRESS, colour=True)
    assert ANSI.sub("", coloured) == plain and ANSI.search(coloured) and not ANSI.search(plain)
    assert "\x1b[32m            +  capabilities" not in coloured  # the indent stays uncoloured
    assert '\x1b[32m+  capabilities = ["read", "list"]\x1b[0m' in coloured


# -- colour on a terminal, none when piped or asked not to ----------------------------

def _run_on_terminal(args, env) -> str:
    """Run vaultform with a pseudo-terminal as stdout; everything it printed."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "vaultform", *args], stdin=subprocess.DEVNULL,
                               stdout=terminal, stderr=terminal, env=env)
    os.close(terminal)
    chunks = []
    while True:
        ready, _, _ = select.select([controller], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(controller, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=30)
    os.close(controller)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def policy_spec(tmp_path, unique):
    spec = tmp_path / "vault.yaml"
    spec.write_text(f"version: 1\npolicies:\n  {unique('colour')}: |\n    path \"a/*\" {{\n      capabilities = [\"read\"]\n"
                    "    }\n", encoding="utf-8")
    return spec


def _env(vault_env, **extra):
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update({k: v for k, v in vault_env.items() if v is not None}, **extra)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    return env


def test_plan_is_coloured_on_a_terminal(vault_env, policy_spec):
    assert ANSI.search(_run_on_terminal(["plan", str(policy_spec)], _env(vault_env)))


@pytest.mark.parametrize("how", ["NO_COLOR", "--no-color"])
def test_no_colour_when_asked(vault_env, policy_spec, how):
    args = ["plan", str(policy_spec)] + (["--no-color"] if how == "--no-color" else [])
    env = _env(vault_env, **({"NO_COLOR": "1"} if how == "NO_COLOR" else {}))
    shown = _run_on_terminal(args, env)
    assert "+ policy." in shown and not ANSI.search(shown), shown


def test_no_colour_when_piped(vault_env, policy_spec):
    result = subprocess.run([sys.executable, "-m", "vaultform", "plan", str(policy_spec)], capture_output=True,
                            text=True, env=_env(vault_env), timeout=60)
    assert "+ policy." in result.stdout and not ANSI.search(result.stdout + result.stderr), result.stdout


# -- objects vaultform does not manage ------------------------------------------------

def unmanaged_plan() -> Plan:
    return Plan(unmanaged={"policy": ["policy.handmade", "policy.other"], "secrets_engine": ["secrets_engine.legacy"]},
                prune_keys={"policy": "policies", "secrets_engine": "secrets_engines"})


def test_no_changes_counts_unmanaged_objects_per_kind():
    assert render_plan(unmanaged_plan()).splitlines() == [
        "No changes. Vault matches the spec.",
        "Vault also holds 3 objects that vaultform does not manage (policy: 2, secrets_engine: 1).",
        "List them with `vaultform plan --show-unmanaged`; add them to the spec, or set "
        "`prune: {policies: true, secrets_engines: true}` to delete them."]
    assert render_plan(Plan()) == "No changes. Vault matches the spec."


def test_show_unmanaged_lists_every_address():
    lines = render_plan(unmanaged_plan(), show_unmanaged=True).splitlines()
    assert lines[2:5] == ["    policy.handmade", "    policy.other", "    secrets_engine.legacy"]
    looked = Plan(unmanaged={})
    assert render_plan(looked, show_unmanaged=True).splitlines()[-1] == "No object in Vault is left unmanaged."
    # A plan that did not look (deferred: the cluster could not be read) does not claim there are none.
    assert "unmanaged" not in render_plan(Plan(deferred="the cluster is sealed"), show_unmanaged=True)


def test_the_readme_walkthrough_shows_the_plan_as_rendered():
    """README.md's `yes`-prompt example is what the renderer prints for that change."""
    old = 'path "secret/data/webapp/config" {\n  capabilities = ["read"]\n}\n'
    new = old.replace('["read"]', '["read", "list"]')
    role = FakeKind("kubernetes_role", 40)
    plan = Plan(changes=[
        Change(UPDATE, res(role, "kubernetes_role.kubernetes/webapp"),
               fields=[FieldChange("token_ttl", 86400, 43200)], live={},
               reason="changed in the spec"),
        Change(UPDATE, res(POLICY, "policy.webapp", {"policy": new}), fields=[FieldChange("policy", old, new)],
               live={"policy": old}, reason="changed in the spec")])
    shown = render_plan(plan).split("\n", 2)[2]  # without the header, which names the address
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert f"```\n{shown}\n```" in readme, shown
