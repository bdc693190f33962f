"""What a person sees of a local cluster: status with each node's PID and log,
a rejected token said (and exit 1), `--watch`, a step's time covering the step
only, the plan header after the leader dies, and "Destroy complete!".

One real 3-node OpenBao raft cluster per module (tests run in file order).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.bao import wait_until
from tests.support.cli import VAULTFORM, Transcript, clean_env, free_port_run, kill_bao_under


def _spec(port: int) -> str:
    return textwrap.dedent(f"""\
        version: 1
        cluster:
          provider: local
          nodes: 3
          listen: 127.0.0.1:{port}
          data_dir: data
          init: {{key_shares: 1, key_threshold: 1, keys_file: data/keys.json}}
        policies:
          app: |
            path "secret/data/app/*" {{ capabilities = ["read"] }}
        """)


class Cluster:
    def __init__(self, work: Path, port: int, env: dict):
        self.work, self.port, self.env = work, port, env
        self.t = Transcript()
        self.applied = None

    def run(self, *args, env=None, **kw):
        return self.t.run(*args, env=env or self.env, cwd=self.work, **kw)

    def address(self, index: int) -> str:
        return f"http://127.0.0.1:{self.port + 2 * index}"

    def pid_file(self, index: int) -> Path:
        return self.work / "data" / f"node{index}" / "bao.pid"

    def status(self) -> dict:
        result = self.run("status", "spec.yaml", "--format", "json")
        assert result.returncode == 0, result
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("ux-cluster")
    work = root / "work"
    work.mkdir()
    port = free_port_run(6)
    (work / "spec.yaml").write_text(_spec(port), encoding="utf-8")
    (root / "home").mkdir()
    c = Cluster(work, port, clean_env(root / "home"))
    try:
        c.applied = c.run("apply", "spec.yaml", "--auto-approve")
        assert c.applied.returncode == 0, c.applied
        yield c
    finally:
        kill_bao_under(root)


def test_waiting_for_voters_is_its_own_step(cluster):
    lines = cluster.applied.stdout.splitlines()
    unseal = [line for line in lines if re.fullmatch(r"\[\d/\d\] cluster\.unseal\[2\]: updating\.\.\. done \(\d+\.\ds\)",
                                                     line)]
    wait = [line for line in lines if re.fullmatch(r"\[\d/\d\] cluster\.unseal\[2\]: waiting for node0, node1, node2 to "
                                                   r"be raft voters\.\.\. done \(\d+\.\ds\)", line)]
    assert len(unseal) == 1 and len(wait) == 1, cluster.applied
    assert lines.index(unseal[0]) + 1 == lines.index(wait[0]), cluster.applied


def test_status_shows_each_nodes_pid_and_log(cluster):
    document = cluster.status()
    for index, node in enumerate(document["nodes"]):
        text = cluster.pid_file(index).read_text()
        assert text.endswith("\n") and text.count("\n") == 1, repr(text)  # PID files end with a newline
        assert node["pid"] == int(text) and os.path.exists(f"/proc/{node['pid']}")
        assert node["log"] == str(cluster.work / "data" / f"node{index}" / "bao.log")
    result = cluster.run("status", "spec.yaml")
    assert result.returncode == 0, result
    rows = result.stdout.splitlines()[:3]
    for index, row in enumerate(rows):
        assert row.startswith(f"node{index}") and f"pid {document['nodes'][index]['pid']}" in row, result
        assert row.endswith(f"log {os.path.join('data', f'node{index}', 'bao.log')}"), result


def test_status_says_the_token_was_rejected_and_exits_1(cluster):
    result = cluster.run("status", "spec.yaml", env={**cluster.env, "VAULT_TOKEN": "s.not-a-token-anyone-issued"})
    assert result.returncode == 1, result
    rows = result.stdout.splitlines()[:3]
    assert all("voter? (token rejected)" in row for row in rows), result
    assert not any(re.search(r"\s\?(\s|$)", row) for row in rows), result  # no bare "?"
    assert "token: from VAULT_TOKEN: REJECTED by Vault" in result.stdout, result
    as_json = cluster.run("status", "spec.yaml", "--format", "json",
                          env={**cluster.env, "VAULT_TOKEN": "s.not-a-token-anyone-issued"})
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["token"]["state"] == "rejected", as_json


def test_status_watch_refreshes_until_interrupted(cluster):
    process = subprocess.Popen([*VAULTFORM, "status", "spec.yaml", "--watch", "--interval", "0.5"],
                               cwd=cluster.work, env=cluster.env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(1 for line in seen if line.startswith("-- ")) < 4:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
    finally:
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=30)
    snapshots = [line for line in seen if line.startswith("-- ")]
    assert len(snapshots) >= 3, "".join(seen) + errors
    assert sum(1 for line in seen if line.startswith("node1 ")) >= 3, "".join(seen)
    assert process.returncode == 0 and "Traceback" not in errors and "Interrupted" not in errors, errors


@pytest.mark.slow
def test_plan_header_names_a_node_that_answers_after_the_leader_dies(cluster):
    document = cluster.status()
    active = next(i for i, n in enumerate(document["nodes"]) if n["active"])
    os.kill(document["nodes"][active]["pid"], signal.SIGKILL)
    result = cluster.run("plan", "spec.yaml")
    assert result.returncode == 0, result
    header = result.stdout.splitlines()[0]
    assert header.startswith("vaultform will perform the following actions (Vault at "), result
    assert cluster.address(active) not in header, result
    assert f"cluster.node[{active}]" in result.stdout, result
    assert cluster.run("apply", "spec.yaml", "--auto-approve").returncode == 0


@pytest.mark.slow
def test_plan_header_without_any_leader_names_the_node_that_answers(cluster):
    for node in cluster.status()["nodes"]:
        os.kill(node["pid"], signal.SIGKILL)
    wait_until(lambda: not any(os.path.exists(f"/proc/{n}") and "Z" not in
                               Path(f"/proc/{n}/stat").read_text().split()[2]
                               for n in [int(cluster.pid_file(i).read_text()) for i in range(3)]), timeout=15)
    # Only node1 comes back: sealed, no leader anywhere, node0 (the configured address) silent.
    code = ("import sys; from vaultform.loading import load_spec; from vaultform.cluster.local import LocalCluster; "
            "LocalCluster(load_spec('spec.yaml')).nodes[1].start()")
    subprocess.run([sys.executable, "-c", code], cwd=cluster.work, env=cluster.env, check=True, timeout=60)
    result = cluster.run("plan", "spec.yaml")
    assert result.returncode == 0, result
    assert result.stdout.startswith(f"vaultform will perform the following actions (Vault at {cluster.address(1)})"), \
        result
    assert cluster.run("apply", "spec.yaml", "--auto-approve").returncode == 0


def test_destroy_says_destroy_complete(cluster):
    result = cluster.run("destroy", "spec.yaml", "--auto-approve")
    assert result.returncode == 0, result
    assert result.stdout.rstrip().splitlines()[-1].startswith("Destroy complete! Resources: 0 added, 0 changed, "), \
        result
    assert "Apply complete!" not in result.output, result


# -- the executor: a follow-up step is timed and reported on its own -------------------

def test_a_follow_up_step_has_its_own_time(tmp_path):
    from vaultform.context import Context
    from vaultform.executor import apply_plan
    from vaultform.model import CREATE, FOLLOW_UP, Change, Plan, Resource
    from vaultform.render.progress import change_line
    from vaultform.loading import load_spec

    class Slow:
        name, rank, recorded = "cluster.slow", 3, False

        def create(self, ctx, res):
            time.sleep(0.05)
            res.meta[FOLLOW_UP] = ("waiting for something slow", lambda: time.sleep(0.6))

    (tmp_path / "vault.yaml").write_text("version: 1\n", encoding="utf-8")
    ctx = Context(load_spec(str(tmp_path / "vault.yaml")), None)
    change = Change(CREATE, Resource(kind=Slow(), address="cluster.slow", id="slow"))
    lines = []
    apply_plan(ctx, Plan(changes=[change]),
               lambda event, c, n, total, seconds: lines.append((change_line(event, c, n, total, seconds), seconds)))
    shown = [(line, seconds) for line, seconds in lines if line]
    assert [line.split("(")[0] for line, _ in shown] == ["[1/1] cluster.slow: creating... done ",
                                                         "[1/1] cluster.slow: waiting for something slow... done "]
    assert shown[0][1] < 0.5 <= shown[1][1], shown  # the change's time is the change's only
