"""Run the vaultform CLI as a user would: a subprocess with a clean environment.

- :func:`clean_env`: the caller's environment without VAULT_*/BAO_*, with a
  private HOME (so no ~/.vault-token is ever read or written).
- :class:`Transcript` / :func:`run`: run ``vaultform ...`` and keep everything
  it printed, for secret scans at the end of a test.
- :func:`free_port_run`: a base port whose whole API/cluster port range is free.
- :func:`bao_pids_under` / :func:`kill_bao_under`: find and stop the OpenBao
  processes of one local cluster (by the data dir in their command line).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

from tests.support.bao import free_ports

VAULTFORM = [sys.executable, "-m", "vaultform"]
RUN_TIMEOUT = 120.0


def clean_env(home: Union[str, Path], **extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(home)
    env.pop("PYTHONWARNINGS", None)
    env.update(extra)
    return env


@dataclass
class Result:
    args: List[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:  # shown by pytest when an assertion on it fails
        return (f"$ vaultform {' '.join(self.args)}  -> exit {self.returncode} in {self.seconds:.2f}s\n"
                f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}")


@dataclass
class Transcript:
    """Every command run through it, with everything each one printed."""

    results: List[Result] = field(default_factory=list)

    def run(self, *args: str, env: Dict[str, str], cwd: Union[str, Path, None] = None,
            stdin: Optional[str] = None, timeout: float = RUN_TIMEOUT) -> Result:
        result = run(*args, env=env, cwd=cwd, stdin=stdin, timeout=timeout)
        self.results.append(result)
        return result

    @property
    def text(self) -> str:
        return "\n".join(r.output for r in self.results)


def run(*args: str, env: Dict[str, str], cwd: Union[str, Path, None] = None,
        stdin: Optional[str] = None, timeout: float = RUN_TIMEOUT) -> Result:
    """``vaultform ARGS`` with stdin from ``stdin`` (or /dev/null: never a TTY)."""
    started = time.monotonic()
    proc = subprocess.run(
        [*VAULTFORM, *args], env=env, cwd=cwd, timeout=timeout, capture_output=True, text=True,
        input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)
    return Result(list(args), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def error_lines(result: Result) -> List[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def assert_clean_failure(result: Result) -> None:
    """Exit 1, at least one `Error:` line, no traceback, nothing on stderr but
    warnings, errors (each one line) and, after a failed apply, its account of
    what was done and what was not."""
    assert result.returncode == 1, result
    assert error_lines(result), result
    assert "Traceback" not in result.output, result
    allowed = ("Error:", "Warning:", "Done:", "Failed:", "Skipped (depend on a failed change):", "Not attempted:",
               "Fix the cause and run apply again; it converges.")
    for line in result.stderr.splitlines():
        assert line.startswith(allowed), f"unexpected stderr line {line!r}\n{result}"


def assert_no_secrets(text: Union[str, bytes], secrets: Iterable[str], where: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    for secret in secrets:
        if secret and secret.encode() in data:
            raise AssertionError(f"{where} contains a secret value ({secret[:3]}..., {len(secret)} chars)")


# -- ports and processes ---------------------------------------------------------


def free_port_run(count: int = 2) -> int:
    """A port P with P..P+count-1 all free (node i of a local cluster uses
    P+2i for its API and P+2i+1 for cluster traffic)."""
    return free_ports(count)


def bao_pids_under(path: Union[str, Path]) -> List[int]:
    """Live `bao server` processes whose command line names a file under path."""
    needle = str(Path(path).resolve()).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "status").read_text()
        except OSError:
            continue
        if b"server" in cmdline and needle in cmdline and "State:\tZ" not in state:
            pids.append(int(entry.name))
    return pids


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state


def kill_bao_under(path: Union[str, Path], timeout: float = 10.0) -> List[int]:
    """SIGKILL every bao process of the cluster under path; wait until gone."""
    pids = bao_pids_under(path)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return pids
