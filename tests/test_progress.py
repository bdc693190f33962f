"""--progress live|plain|none, against a real dev server. Live mode is run
in a pseudo-terminal, as on a user's screen."""

from __future__ import annotations

import os
import pty
import subprocess
import time

import yaml

from tests.support.cli import VAULTFORM, clean_env


def write_spec(tmp_path, unique, count=30):
    spec = tmp_path / "vault.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "vault": {"record": {"path": unique("prog")}},
                                    "policies": {unique("pp"): 'path "x" { capabilities = ["read"] }\n'
                                                 for _ in range(count)}}))
    return spec


def test_plain_prints_a_line_per_change_and_none_prints_only_the_summary(run_cli, vault_env, unique, tmp_path):
    spec = write_spec(tmp_path, unique)
    plain = run_cli(["apply", str(spec), "--auto-approve", "--progress", "plain"], env=vault_env)
    assert plain.exit_code == 0, str(plain)
    lines = [line for line in plain.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 30 and lines[-1].startswith("[30/30] ") and lines[0].startswith("[1/30] "), plain.stdout
    spec = write_spec(tmp_path, unique)
    quiet = run_cli(["apply", str(spec), "--auto-approve", "--progress", "none"], env=vault_env)
    assert quiet.exit_code == 0 and "[1/30]" not in quiet.output, str(quiet)
    assert "Apply complete! Resources: 30 added" in quiet.stdout


def test_live_draws_a_bar_on_a_terminal_and_leaves_the_lines(bao, unique, tmp_path):
    spec = write_spec(tmp_path, unique)
    env = clean_env(tmp_path / "home", VAULT_ADDR=bao.address, VAULT_TOKEN=bao.root_token, COLUMNS="100")
    env.pop("CI", None)
    env.pop("GITHUB_ACTIONS", None)
    master, slave = pty.openpty()
    proc = subprocess.Popen([*VAULTFORM, "apply", str(spec), "--auto-approve"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break  # the child closed the terminal
        if not chunk:
            break
        seen += chunk
    stdout, _ = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0, (stdout, seen)
    text = seen.decode("utf-8", "replace")
    assert "applying" in text, text  # the live bar was drawn
    assert "[30/30]" in text and "done (" in text, text  # every change's line, above the bar
    assert b"Apply complete! Resources: 30 added" in stdout
