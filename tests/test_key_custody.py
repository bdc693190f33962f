"""Key custody cannot lose keys, against a real one-node local OpenBao.

Vault hands out the unseal shares and the root token once. Every reason the
keys file could not be written (an unwritable directory, a directory, a
symlink or a file in the way) must stop apply before sys/init, with Vault
left uninitialised; a stale world-readable temp file is never reused; and a
write that fails after init (injected by tests/support/faulty_vaultform.py)
puts the keys in a rescue file that really unseals the server. Every byte
printed, and every file written apart from the one holding the keys, is
scanned for the shares and the token.

The CLI runs as a subprocess without root's power to ignore file modes
(CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH dropped), so a directory made
read-only is read-only for it even when the suite runs as root.
"""

from __future__ import annotations

import ctypes
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import List, Optional

import pytest
import requests

from tests.support.bao import wait_until
from tests.support.cli import (
    VAULTFORM,
    Result,
    assert_clean_failure,
    assert_no_secrets,
    clean_env,
    error_lines,
    free_port_run,
)

FAULTY = Path(__file__).resolve().parent / "support" / "faulty_vaultform.py"
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def _as_a_plain_user() -> None:
    """In the child before exec: root loses the capabilities that let it
    write where file modes say no (nothing to do for anyone else)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


class Runs:
    """Runs `vaultform ARGS` (optionally with a fault) and keeps all output."""

    def __init__(self, work: Path, env: dict):
        self.work, self.env, self.results = work, env, []

    def __call__(self, *args: str, fault: Optional[str] = None, env: Optional[dict] = None) -> Result:
        command = [sys.executable, str(FAULTY), fault, *args] if fault else [*VAULTFORM, *args]
        started = time.monotonic()
        proc = subprocess.run(command, env=env or self.env, cwd=self.work, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120, preexec_fn=_as_a_plain_user)
        result = Result(list(args), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
        self.results.append(result)
        return result

    @property
    def text(self) -> str:
        return "\n".join(r.output for r in self.results)


def one_node_spec(port: int, keys_file: str) -> str:
    return textwrap.dedent(f"""\
        version: 1
        cluster:
          provider: local
          nodes: 1
          listen: 127.0.0.1:{port}
          data_dir: data
          init: {{key_shares: 3, key_threshold: 2, keys_file: {keys_file}}}
        policies:
          app: |
            path "secret/data/app/*" {{ capabilities = ["read"] }}
        """)


def seal_status(address: str) -> dict:
    return requests.get(f"{address}/v1/sys/seal-status", timeout=5).json()


def secrets_of(keys: dict) -> List[str]:
    return [*keys["unseal_keys_b64"], *keys["unseal_keys_hex"], keys["root_token"]]


def scan_files(root: Path, secrets: List[str], skip=()) -> int:
    """Assert no file under root holds a share or the token; return how many were read."""
    skip = {Path(p) for p in skip}
    count = 0
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and path not in skip:
            assert_no_secrets(path.read_bytes(), secrets, f"file {path}")
            count += 1
    return count


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def only_line(result: Result) -> str:
    assert_clean_failure(result)
    (line,) = error_lines(result)
    return line


@pytest.mark.slow
def test_every_place_the_keys_cannot_go_fails_before_init(workdir, tmp_path):
    port = free_port_run(2)
    address = f"http://127.0.0.1:{port}"
    evidence = tmp_path / "init-answer.json"
    run = Runs(workdir, clean_env(tmp_path / "home", VAULTFORM_TEST_INIT_ANSWER=str(evidence)))
    spec = workdir / "spec.yaml"

    locked = workdir / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    (workdir / "in-the-way").mkdir()
    (workdir / "open").mkdir()
    (workdir / "open").chmod(0o777)
    precious = workdir / "precious.json"
    precious.write_text("not vaultform's\n")
    precious.chmod(0o644)
    (workdir / "link.json").symlink_to("precious.json")
    (workdir / "dangling.json").symlink_to("nowhere.json")
    (workdir / "a-file").write_text("a file\n")
    old_keys = workdir / "old-keys.json"
    old_keys.write_text('{"root_token": "of an earlier cluster"}\n')
    old_keys.chmod(0o600)

    w = str(workdir)
    cases = [
        ("locked/keys.json", f"cannot create the keys file {w}/locked/keys.json: Permission denied"),
        ("locked/sub/keys.json", f"cannot create the directory {w}/locked/sub for the keys file "
                                 f"{w}/locked/sub/keys.json: Permission denied"),
        ("in-the-way", f"a directory is in the way of the keys file {w}/in-the-way"),
        ("open/keys.json", f"the directory {w}/open of the keys file {w}/open/keys.json is writable by others "
                           "(mode 777); chmod go-w it or choose another keys_file"),
        ("link.json", f"{w}/link.json is a symbolic link, which vaultform does not follow for keys: remove it "
                      "(or set keys_file to where it points)"),
        ("dangling.json", f"{w}/dangling.json is a symbolic link, which vaultform does not follow for keys"),
        ("a-file/keys.json", f"cannot create the directory of the keys file {w}/a-file/keys.json: {w}/a-file "
                             "is in the way and is not a directory"),
        ("old-keys.json", f"the keys file {w}/old-keys.json already exists, but the cluster is not initialised: "
                          "it holds the keys of an earlier cluster; move it away"),
    ]
    for keys_file, message in cases:
        spec.write_text(one_node_spec(port, keys_file))
        result = run("apply", "spec.yaml", "--auto-approve")
        line = only_line(result)
        assert line.startswith(f"Error: cluster.init: {message}"), (keys_file, line)
        assert seal_status(address)["initialized"] is False, keys_file

    # Nothing in the way was followed, filled, created or changed.
    assert list(locked.iterdir()) == []
    assert list((workdir / "in-the-way").iterdir()) == [] and list((workdir / "open").iterdir()) == []
    assert precious.read_text() == "not vaultform's\n" and mode(precious) == 0o644
    assert os.readlink(workdir / "link.json") == "precious.json"
    assert not (workdir / "nowhere.json").exists() and os.readlink(workdir / "dangling.json") == "nowhere.json"
    assert (workdir / "a-file").read_text() == "a file\n"
    assert old_keys.read_text() == '{"root_token": "of an earlier cluster"}\n' and mode(old_keys) == 0o600

    # A world-readable temp file from before (the old fixed name, and the
    # name with .tmp added) is neither reused nor its mode kept.
    keys_dir = workdir / "keys"
    keys_dir.mkdir(mode=0o700)
    stale = [keys_dir / "keys.tmp", keys_dir / "keys.json.tmp"]
    for path in stale:
        path.write_text("stale\n")
        path.chmod(0o666)
    # And Ctrl-C plus SIGTERM arriving while the keys are written are held
    # until they are stored, then end the run.
    spec.write_text(one_node_spec(port, "keys/keys.json"))
    result = run("apply", "spec.yaml", "--auto-approve", fault="interrupted-before-rename")
    assert result.returncode == 130 and "Interrupted." in result.stderr and "Traceback" not in result.stderr, result
    keys_file = keys_dir / "keys.json"
    assert mode(keys_file) == 0o600 and stat.S_ISREG(keys_file.lstat().st_mode)
    keys = json.loads(keys_file.read_text())
    assert keys == json.loads(evidence.read_text())
    assert len(keys["unseal_keys_b64"]) == 3 and keys["root_token"]
    assert sorted(p.name for p in keys_dir.iterdir()) == ["keys.json", "keys.json.tmp", "keys.tmp"]
    for path in stale:
        assert path.read_text() == "stale\n" and mode(path) == 0o666
    assert run("apply", "spec.yaml", "--auto-approve").returncode == 0
    assert seal_status(address)["sealed"] is False  # apply unsealed the node with what was written
    assert run("plan", "spec.yaml", "--detailed-exitcode").returncode == 0

    assert_no_secrets(run.text, secrets_of(keys), "command output")
    assert scan_files(workdir, secrets_of(keys), skip=[keys_file]) > 5


@pytest.mark.slow
def test_keys_whose_write_fails_after_init_are_rescued_and_unseal_the_server(workdir, tmp_path):
    port = free_port_run(2)
    address = f"http://127.0.0.1:{port}"
    evidence = tmp_path / "init-answer.json"  # what Vault handed out, recorded by the test harness
    run = Runs(workdir, clean_env(tmp_path / "home", VAULTFORM_TEST_INIT_ANSWER=str(evidence)))
    (workdir / "spec.yaml").write_text(one_node_spec(port, "private/keys.json"))
    keys_file = workdir / "private" / "keys.json"

    result = run("apply", "spec.yaml", "--auto-approve", fault="replace-fails")
    line = only_line(result)
    (rescued,) = (workdir / "private").iterdir()  # no temp file, no reservation left behind
    assert rescued.name.startswith("keys.json.rescued-") and rescued.name.endswith(".json")
    assert line == (f"Error: cluster.init: the cluster was initialised but its keys could not be stored in "
                    f"{keys_file} (cannot write the keys file {keys_file}: No space left on device); they were "
                    f"written to {rescued} (mode 0600) instead: move it into place (`mv {rescued} {keys_file}`), "
                    "then run apply again"), line
    assert mode(workdir / "private") == 0o700 and mode(rescued) == 0o600
    keys = json.loads(rescued.read_text())
    assert keys == json.loads(evidence.read_text())
    assert_no_secrets(run.text, secrets_of(keys), "command output")
    assert scan_files(workdir, secrets_of(keys), skip=[rescued]) > 3

    # The rescued shares are the real ones: they unseal the server, and the token is its root token.
    status = seal_status(address)
    assert status["initialized"] is True and status["sealed"] is True
    for share in keys["unseal_keys_b64"][:2]:
        answer = requests.put(f"{address}/v1/sys/unseal", json={"key": share}, timeout=10).json()
    assert answer["sealed"] is False
    # Unsealed is not yet active: the raft node elects itself a moment later, and until then
    # every request with a token answers 500.
    wait_until(lambda: requests.get(f"{address}/v1/sys/health", timeout=10).status_code == 200, 30,
               what="the unsealed node to become active")
    lookup = requests.get(f"{address}/v1/auth/token/lookup-self", headers={"X-Vault-Token": keys["root_token"]},
                          timeout=10)
    assert lookup.status_code == 200 and lookup.json()["data"]["policies"] == ["root"]

    # Put where the message says, apply goes on from there.
    os.replace(rescued, keys_file)
    assert run("apply", "spec.yaml", "--auto-approve").returncode == 0
    assert run("plan", "spec.yaml", "--detailed-exitcode").returncode == 0
    assert_no_secrets(run.text, secrets_of(keys), "command output")


@pytest.mark.parametrize("temp_writable", [True, False], ids=["rescued-to-temp", "rescue-fails-too"])
def test_keys_whose_directory_turns_read_only_go_to_a_private_temp_dir_or_are_reported_lost(
        workdir, tmp_path, temp_writable):
    port = free_port_run(2)
    address = f"http://127.0.0.1:{port}"
    evidence = tmp_path / "init-answer.json"
    temp = tmp_path / "tmp"
    temp.mkdir(mode=0o700 if temp_writable else 0o500)
    env = clean_env(tmp_path / "home", VAULTFORM_TEST_INIT_ANSWER=str(evidence), TMPDIR=str(temp))
    run = Runs(workdir, env)
    (workdir / "spec.yaml").write_text(one_node_spec(port, "private/keys.json"))
    keys_file = workdir / "private" / "keys.json"

    result = run("apply", "spec.yaml", "--auto-approve", fault="dir-read-only")
    line = only_line(result)
    keys = json.loads(evidence.read_text())
    assert_no_secrets(run.text, secrets_of(keys), "command output")
    scan_files(workdir, secrets_of(keys))
    not_stored = (f"Error: cluster.init: the cluster was initialised but its keys could not be stored in "
                  f"{keys_file} (cannot write the keys file {keys_file}: Permission denied)")
    if not temp_writable:
        assert line.startswith(f"{not_stored}, nor in a rescue file ({temp}/vaultform-keys-"), line
        assert line.endswith("Permission denied): they are lost and this cluster can never be unsealed; destroy it, "
                             "fix the cause, then run apply again"), line
        assert list(temp.iterdir()) == []
        assert seal_status(address)["initialized"] is True  # what the message owns up to
        return
    (rescue_dir,) = temp.iterdir()
    rescued = rescue_dir / "cluster-keys.json"
    assert rescue_dir.name.startswith("vaultform-keys-") and mode(rescue_dir) == 0o700 and mode(rescued) == 0o600
    assert line == (f"{not_stored}; they were written to {rescued} (mode 0600) instead: move it into place "
                    f"(`mv {rescued} {keys_file}`), then run apply again"), line
    assert json.loads(rescued.read_text()) == keys
    for share in keys["unseal_keys_b64"][:2]:
        answer = requests.put(f"{address}/v1/sys/unseal", json={"key": share}, timeout=10).json()
    assert answer["sealed"] is False


@pytest.mark.slow
def test_what_a_crash_leaves_behind_is_found_by_the_next_run(workdir, tmp_path):
    port = free_port_run(2)
    address = f"http://127.0.0.1:{port}"
    evidence = tmp_path / "init-answer.json"
    run = Runs(workdir, clean_env(tmp_path / "home", VAULTFORM_TEST_INIT_ANSWER=str(evidence)))
    (workdir / "spec.yaml").write_text(one_node_spec(port, "private/keys.json"))
    keys_dir = workdir / "private"
    keys_file = keys_dir / "keys.json"

    # Killed after the reservation, before init: an empty 0600 file, which
    # holds nothing; Vault is not initialised and the plan still says so.
    assert run("apply", "spec.yaml", "--auto-approve", fault="killed-after-reserve").returncode == -9
    assert keys_file.read_bytes() == b"" and mode(keys_file) == 0o600
    assert seal_status(address)["initialized"] is False
    plan = run("plan", "spec.yaml", "--detailed-exitcode")
    assert plan.returncode == 2 and "+ cluster.init" in plan.stdout, plan

    # Killed after init, the keys written and synced but not yet renamed: the
    # temp file holds them, and the next run names it.
    assert run("apply", "spec.yaml", "--auto-approve", fault="killed-before-rename").returncode == -9
    keys = json.loads(evidence.read_text())
    (temp,) = [p for p in keys_dir.iterdir() if p != keys_file]
    assert temp.name.startswith(".keys.json.") and temp.name.endswith(".tmp") and mode(temp) == 0o600
    assert json.loads(temp.read_text()) == keys and keys_file.read_bytes() == b""
    line = only_line(run("apply", "spec.yaml", "--auto-approve"))
    assert line == (f"Error: cluster.unseal[0]: node0 is sealed and there is no keys file at {keys_file} "
                    f"(a file an earlier run left beside it may hold the keys: {temp})"), line

    os.replace(temp, keys_file)
    assert run("apply", "spec.yaml", "--auto-approve").returncode == 0
    assert seal_status(address)["sealed"] is False
    assert run("plan", "spec.yaml", "--detailed-exitcode").returncode == 0
    assert_no_secrets(run.text, secrets_of(keys), "command output")
    scan_files(workdir, secrets_of(keys), skip=[keys_file])
