"""Shared fixtures: one real OpenBao dev server per test session, an isolated
environment pointing at it, and an in-process runner for the `vaultform` CLI.

Tests that share the server keep out of each other's way by using their own
mount paths and names; `unique` hands out short distinct names.

    def test_something(run_cli, vault_env, tmp_path, root):
        spec = tmp_path / "vaultform.yaml"
        ...
        result = run_cli(["plan", str(spec), "--detailed-exitcode"], env=vault_env)
        assert result.exit_code == 0, str(result)  # str: exit code, stdout and stderr
"""

from __future__ import annotations

import itertools
import os
import secrets
import sys
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pytest
from click.testing import CliRunner

from tests.support.bao import BaoDevServer
from tests.support.cli import kill_bao_under

# Variables that would point vaultform (or hvac) somewhere other than the test
# server if they leaked in from the developer's shell.
_AMBIENT_VAULT_VARS = ("VAULT_ADDR", "VAULT_TOKEN", "BAO_ADDR", "BAO_TOKEN", "VAULT_NAMESPACE",
                       "BAO_NAMESPACE", "VAULT_CACERT", "BAO_CACERT", "VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY")


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: two workers per core. A test spends most of its time waiting
    for the OpenBao servers it started (raft fsync, unseal, elections), not on
    the CPU: on 2 cores the suite took 4 min 38 s with 2 workers and 2 min
    59 s with 4 (measured side by side)."""
    return min(2 * (os.cpu_count() or 1), 32)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    exception: Optional[Exception] = None  # an exception main() let escape (a bug in itself)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:  # what an assertion message shows
        return f"exit {self.exit_code}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def run_cli(args: Sequence[str], env: Optional[Mapping[str, Optional[str]]] = None,
            input: Optional[str] = None) -> CliResult:
    """Run `vaultform ARGS` in this process, as the console script would.

    `env` overrides os.environ for the call only (a None value unsets the
    variable). Exit codes come from main()'s sys.exit; main() returning means 0.
    """
    from vaultform import redact
    from vaultform.cli import main

    # A separate process would start with no registered secrets; keeping the
    # previous runs' registrations would let redaction hide a leak that a
    # real run prints.
    redact.clear()
    runner = CliRunner()
    exit_code, escaped = 0, None
    with runner.isolation(input=input, env=dict(env or {})) as (out, err, _mixed):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code
            exit_code = code if isinstance(code, int) else (0 if code is None else 1)
        except Exception as exc:  # noqa: BLE001 - main() should not let one out; the test reports it
            exit_code, escaped = 1, exc
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        stdout = out.getvalue().decode("utf-8", "replace")
        stderr = err.getvalue().decode("utf-8", "replace")
    return CliResult(exit_code, stdout, stderr, escaped)


@pytest.fixture(name="run_cli")
def run_cli_fixture():
    """The `run_cli(args, env=None, input=None)` helper, as a fixture."""
    return run_cli


@pytest.fixture(scope="session")
def bao():
    """A real `bao server -dev` for the whole session (in memory; kv-v2 pre-mounted at secret/)."""
    with BaoDevServer() as server:
        yield server


@pytest.fixture
def root(bao):
    """An hvac client with the dev server's root token, for checking Vault behind vaultform's back."""
    return bao.client()


@pytest.fixture
def vault_env(bao, tmp_path_factory, monkeypatch):
    """VAULT_ADDR/VAULT_TOKEN for the dev server and a private HOME.

    Applied to os.environ for the test (so hvac and in-process code see it)
    and returned as a dict for `run_cli(..., env=vault_env)`. HOME is an
    empty directory so a developer's ~/.vault-token can never be picked up.
    """
    home = tmp_path_factory.mktemp("home")
    env = {name: None for name in _AMBIENT_VAULT_VARS}
    env.update(VAULT_ADDR=bao.address, VAULT_TOKEN=bao.root_token, HOME=str(home))
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return env


_counter = itertools.count(1)
_session_tag = secrets.token_hex(2)


@pytest.fixture
def unique():
    """`unique("kv")` -> "kv-3f2a-7": a name no other test in this session uses."""
    def make(prefix: str) -> str:
        return f"{prefix}-{_session_tag}-{next(_counter)}"
    return make


@pytest.fixture(autouse=True)
def _no_secret_registry_leak():
    """Redaction state is process-global; keep one test's secrets out of the next."""
    yield
    from vaultform import redact
    redact.clear()


@pytest.fixture
def workdir(tmp_path):
    """A spec directory whose local-cluster bao processes are killed whatever happens."""
    work = tmp_path / "work"
    work.mkdir()
    try:
        yield work
    finally:
        kill_bao_under(tmp_path)
