"""Local 3-node cluster timings, measured in one run:

  - bring-up: `vaultform apply` of a 3-node spec with a mount, a policy and a
    secret, from nothing to configured (three raft voters, one active);
  - recovery: kill -9 of the active node, then `vaultform apply` until three
    healthy voters again; the same for a standby;
  - for scale, the same bring-up with one node.

Targets from the HA issue: bring-up under 15 s, recovery of one node under
10 s. Figures vary with the machine; compare them side by side.

    python bench/ha_cluster.py [ROUNDS]
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.cli import clean_env, free_port_run, kill_bao_under  # noqa: E402


def spec(port: int, nodes: int) -> str:
    return textwrap.dedent(f"""\
        version: 1
        cluster: {{provider: local, nodes: {nodes}, listen: 127.0.0.1:{port}, data_dir: data,
                   init: {{key_shares: 3, key_threshold: 2, keys_file: data/keys.json}}}}
        secrets_engines: {{secret: {{type: kv, options: {{version: "2"}}}}}}
        policies: {{app: 'path "secret/data/app/*" {{ capabilities = ["read"] }}'}}
        secrets: {{secret/app/config: {{password: {{generate: {{length: 24}}}}}}}}
        """)


def vaultform(work: Path, env, *args) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "vaultform", *args, "spec.yaml"], cwd=work, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"vaultform {' '.join(args)} failed:\n{result.stderr}")
    return time.perf_counter() - started


def healthy(work: Path, env) -> bool:
    result = subprocess.run([sys.executable, "-m", "vaultform", "status", "spec.yaml", "--format", "json"],
                            cwd=work, env=env, capture_output=True, text=True)
    nodes = json.loads(result.stdout)["nodes"]
    return all(n["sealed"] is False and n["voter"] for n in nodes) and sum(bool(n["active"]) for n in nodes) == 1


def one_round(nodes: int) -> dict:
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = clean_env(work / "home")
        (work / "spec.yaml").write_text(spec(free_port_run(2 * nodes), nodes))
        try:
            figures["bring-up"] = vaultform(work, env, "apply", "--auto-approve")
            if nodes > 1:
                for victim in ("active", "standby"):
                    status = json.loads(subprocess.run(
                        [sys.executable, "-m", "vaultform", "status", "spec.yaml", "--format", "json"],
                        cwd=work, env=env, capture_output=True, text=True).stdout)["nodes"]
                    active = next(i for i, n in enumerate(status) if n["active"])
                    index = active if victim == "active" else (active + 1) % nodes
                    os.kill(int((work / "data" / f"node{index}" / "bao.pid").read_text()), signal.SIGKILL)
                    started = time.perf_counter()
                    while True:
                        vaultform(work, env, "apply", "--auto-approve")
                        if healthy(work, env):
                            break
                    figures[f"recovery ({victim} killed)"] = time.perf_counter() - started
        finally:
            kill_bao_under(work)
    return figures


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    results = {1: [], 3: []}
    for _ in range(rounds):
        for nodes in (1, 3):  # interleaved, so machine noise hits both alike
            results[nodes].append(one_round(nodes))
    for nodes, runs in results.items():
        for name in runs[0]:
            values = sorted(r[name] for r in runs)
            print(f"{nodes} node(s)  {name:<28} median {values[len(values) // 2]:6.2f} s  "
                  f"(min {values[0]:.2f}, max {values[-1]:.2f}, {len(values)} runs)")
    single = sorted(r["bring-up"] for r in results[1])[rounds // 2]
    triple = sorted(r["bring-up"] for r in results[3])[rounds // 2]
    print(f"3-node / 1-node bring-up ratio: {triple / single:.2f}x")


if __name__ == "__main__":
    main()
