"""Shell completion (click's, for bash, zsh and fish) and `--target`
completing the addresses the spec declares, read offline: no Vault, no
environment variable or file a value source names is read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_ADDRESSES = [
    "auth_method.kubernetes", "cluster.init", "cluster.node[0]", "cluster.node[1]", "cluster.node[2]",
    "cluster.unseal[0]", "cluster.unseal[1]", "cluster.unseal[2]", "kubernetes_config.kubernetes",
    "kubernetes_role.kubernetes/webapp", "policy.webapp", "secret.secret/webapp/config", "secrets_engine.secret"]


def complete(shell: str, words: str, cword, cwd=ROOT, **env) -> subprocess.CompletedProcess:
    """What the shell's completion function gets back from vaultform."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    full.update(_VAULTFORM_COMPLETE=f"{shell}_complete", COMP_WORDS=words, COMP_CWORD=str(cword),
                # Would be used if completion ever tried to reach Vault: nothing listens there.
                VAULT_ADDR="http://127.0.0.1:9", **env)
    return subprocess.run([sys.executable, "-m", "vaultform"], env=full, cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def bash_values(result) -> list:
    return [line.split(",", 1)[1] for line in result.stdout.splitlines()]


@pytest.mark.parametrize("shell, marker", [
    ("bash", "complete -o nosort -F _vaultform_completion vaultform"),
    ("zsh", "#compdef vaultform"),
    ("fish", "complete --no-files --command vaultform"),
])
def test_each_shell_gets_a_completion_script(shell, marker):
    env = {k: v for k, v in os.environ.items()}
    env["_VAULTFORM_COMPLETE"] = f"{shell}_source"
    result = subprocess.run([sys.executable, "-m", "vaultform"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and marker in result.stdout, result.stdout + result.stderr


def test_command_names_complete():
    assert bash_values(complete("bash", "vaultform pl", 1)) == ["plan", "planner-policy"]
    assert "status" in bash_values(complete("bash", "vaultform ", 1))


def test_target_completes_the_specs_addresses():
    result = complete("bash", "vaultform plan examples/vault.yaml --target ", 4, WEBAPP_PASSWORD="never-read")
    assert result.returncode == 0 and bash_values(result) == EXAMPLE_ADDRESSES, result.stdout + result.stderr
    assert "never-read" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_target_completes_what_is_typed_in_every_shell(command):
    assert bash_values(complete("bash", f"vaultform {command} examples/vault.yaml --target cluster.u", 4)) == [
        "cluster.unseal[0]", "cluster.unseal[1]", "cluster.unseal[2]"]
    zsh = complete("zsh", f"vaultform {command} examples/vault.yaml --target kub", 4).stdout.splitlines()
    assert zsh == ["plain", "kubernetes_config.kubernetes", "_", "plain", "kubernetes_role.kubernetes/webapp", "_"]
    fish = complete("fish", f"vaultform {command} examples/vault.yaml --target pol", "pol").stdout.splitlines()
    assert fish == ["plain,policy.webapp"]


def test_target_completion_reads_no_source_and_says_nothing_for_a_bad_spec(tmp_path):
    (tmp_path / "vault.yaml").write_text(
        "version: 1\nsecrets:\n  secret/app:\n    password: {env: SURELY_UNSET_FOR_COMPLETION}\n"
        "auth:\n  kubernetes:\n    type: kubernetes\n    config:\n      kubernetes_host: https://k8s:6443\n"
        "      token_reviewer_jwt: {env: SURELY_UNSET_TOO}\n    roles:\n      app: {bound_service_account_names: [a],"
        " bound_service_account_namespaces: [b]}\n", encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("version: 1\npolicies: [\n", encoding="utf-8")
    result = complete("bash", "vaultform plan vault.yaml --target ", 4, cwd=tmp_path)
    assert bash_values(result) == ["auth_method.kubernetes", "kubernetes_config.kubernetes",
                                   "kubernetes_role.kubernetes/app", "secret.secret/app"], result.stderr
    assert result.stderr == ""
    broken = complete("bash", "vaultform plan broken.yaml --target ", 4, cwd=tmp_path)
    assert broken.returncode == 0 and broken.stdout.strip() == "" and broken.stderr == "", broken
