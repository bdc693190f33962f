"""vaultform at scale against one raft-backed OpenBao node, all in one run.

Starts a one-node local cluster (raft storage, fsync on every write) with
vaultform itself, measures the server's raw ceilings, then times vaultform
on specs of N objects (40% ACL policies, 40% KV v2 secrets of 3 keys, 20%
Kubernetes roles), for N = 1,000 and 10,000 (and 100,000 with --large):

  ceilings   raw GET of a policy and raw PUT of a policy on 8, 16 and 32
             keep-alive connections, 3 s each, the best of the three (an
             apply runs up to 32 changes at once, so its ratio is taken
             against the server's best, not against 8 connections),
             measured again before each N; the ratios are also given
             against the best of the whole run; with `wrk` on PATH it is
             used for GET instead of the Python loop
  plan       no-op plan of the applied spec (objects/s, ratio of GET ceiling)
  apply      apply of N creates (objects/s, ratio of PUT ceiling)
  export     `vaultform export --secret-values-to DIR` of the N objects just
             applied (objects/s, ratio of GET ceiling); with --baseline DIR
             the baseline's export too, alternated with this one's
  update     apply of N/10 updates
  destroy    destroy of the N objects
  rss        peak RSS of the no-op plan process
  linear     per-object time at the largest N over that at 1,000
  validate   CPU seconds (user + system) of `vaultform validate` of the
             largest spec; with --baseline DIR, also of the vaultform in DIR
             (another checkout, e.g. before a change) on the same spec
  latency    no-op plan and export of 1,000 objects behind a 20 ms proxy
             (a WAN link), with --baseline alternated with the baseline's

Prints a table; nothing is asserted (figures vary with the machine: compare
the ratios). Only the loopback server this script starts is contacted.

    python bench/scale.py [--large] [--sizes 1000,10000] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.cli import clean_env, free_port_run, kill_bao_under  # noqa: E402

VALUE_VAR = "SCALE_BENCH_VALUE"
WORKERS = 8
CONNECTIONS = (8, 16, 32)


def cluster_spec(port: int) -> str:
    return textwrap.dedent(f"""\
        version: 1
        cluster: {{provider: local, nodes: 1, listen: 127.0.0.1:{port}, data_dir: data,
                   init: {{key_shares: 1, key_threshold: 1, keys_file: data/keys.json}}}}
        """)


def objects_spec(n: int, rev: int = 0, updated_every: int = 0) -> dict:
    """n objects; with updated_every=k, every k-th policy and secret differ from rev 0."""
    policies, secrets, roles = {}, {}, {}
    for i in range(n):
        kind = i % 5
        changed = updated_every and i % updated_every == 0
        tag = rev if changed else 0
        if kind in (0, 1):
            policies[f"team{i % 97}-app{i}"] = f'path "kv/data/app{i}/*" {{ capabilities = ["read"] }}\n# {tag}\n'
        elif kind in (2, 3):
            secrets[f"kv/app{i}/config"] = {"username": f"user{i}-{tag}", "password": {"env": VALUE_VAR},
                                            "url": f"https://db{i % 13}.internal:5432/app{i}"}
        else:
            roles[f"app{i}"] = {"bound_service_account_names": [f"app{i}"],
                                "bound_service_account_namespaces": [f"team{i % 97}"],
                                "token_policies": [f"team{(i - 4) % 97}-app{i - 4}"], "token_ttl": 3600 + tag}
    return {"version": 1,
            "secrets_engines": {"kv": {"type": "kv", "options": {"version": "2"}}},
            "auth": {"kubernetes": {"type": "kubernetes", "roles": roles}},
            "policies": policies, "secrets": secrets}


def run_measured(work: Path, env: dict, *args: str, cpu: list = None) -> tuple:
    """Seconds and peak RSS (MB, from the kernel's accounting) of one vaultform
    run; its CPU seconds (user + system) appended to `cpu` when given."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "vaultform", *args], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if code not in (0, 2):
        raise SystemExit(f"vaultform {' '.join(args)} failed ({code}):\n{err[-2000:]}")
    if cpu is not None:
        cpu.append(usage.ru_utime + usage.ru_stime)
    return seconds, usage.ru_maxrss / 1024


class LatencyProxy:
    """A loopback TCP proxy that holds every client-to-server chunk for
    `delay` seconds: a Vault across a WAN link, for the plan-under-latency
    figure. Only forwards to the loopback server this script started."""

    def __init__(self, upstream_port: int, delay: float):
        import socket
        self.upstream, self.delay = ("127.0.0.1", upstream_port), delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, self.delay), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, 0.0), daemon=True).start()

    @staticmethod
    def _pump(source, sink, delay: float) -> None:
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                if delay:
                    time.sleep(delay)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def export_seconds(work: Path, env: dict, label: str) -> float:
    """Seconds of one `vaultform export` of the whole Vault, its secret values
    to a fresh private directory under the bench's own temporary one."""
    values = work / f"values-{label}"
    shutil.rmtree(values, ignore_errors=True)
    seconds, _ = run_measured(work, env, "export", "--output", f"exported-{label}.yaml",
                              "--secret-values-to", str(values))
    shutil.rmtree(values, ignore_errors=True)
    return seconds


def ceiling(address: str, token: str, method: str, seconds: float = 3.0, connections: int = WORKERS) -> float:
    """Requests per second the server answers on `connections` keep-alive connections."""
    if shutil.which("wrk") and method == "GET":
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-H", f"X-Vault-Token: {token}",
                              f"{address}/v1/sys/policies/acl/default"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Requests/sec:"):
                return float(line.split()[1])
    stop = time.monotonic() + seconds
    counts = [0] * connections

    def worker(k: int) -> None:
        session = requests.Session()
        session.headers["X-Vault-Token"] = token
        i = 0
        while time.monotonic() < stop:
            if method == "GET":
                session.get(f"{address}/v1/sys/policies/acl/default", timeout=10)
            else:
                session.put(f"{address}/v1/sys/policies/acl/ceiling-{k}-{i % 50}", timeout=10,
                            json={"policy": f'path "x{i}" {{ capabilities = ["read"] }}'})
            i += 1
        counts[k] = i

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also N = 100,000")
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--baseline", help="another vaultform checkout whose validate, and plan behind latency, "
                                           "are timed on the same spec, alternated with this one's")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] + ([100_000] if args.large else [])

    work = Path(tempfile.mkdtemp(prefix="vaultform-scale-"))
    port = free_port_run(2)
    env = clean_env(work / "home", **{VALUE_VAR: "s3cr3t-bench-value"})
    (work / "home").mkdir()
    (work / "cluster.yaml").write_text(cluster_spec(port))
    try:
        subprocess.run([sys.executable, "-m", "vaultform", "apply", "cluster.yaml", "--auto-approve"], cwd=work,
                       env=env, check=True, capture_output=True)
        token = json.loads((work / "data" / "keys.json").read_text())["root_token"]
        address = f"http://127.0.0.1:{port}"
        env.update(VAULT_ADDR=address, VAULT_TOKEN=token)

        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"{platform.platform()}; load average at start {os.getloadavg()[0]:.1f}")
        header = (f"{'N':>7}  {'plan obj/s':>10} {'÷GET':>5}  {'apply obj/s':>11} {'÷PUT':>5}  "
                  f"{'export obj/s':>12} {'÷GET':>5}  {'update obj/s':>12}  {'destroy obj/s':>13}  {'plan RSS':>8}")
        baseline_env = {**env, "PYTHONPATH": str(Path(args.baseline).resolve())} if args.baseline else None
        per_object, rates, best = {}, {}, {"GET": 0.0, "PUT": 0.0}
        for n in sizes:
            # The ceilings just before this N's runs: the machine's load moves
            # within a run, and a ratio means most against the same moment.
            gets = {c: ceiling(address, token, "GET", connections=c) for c in CONNECTIONS}
            puts = {c: ceiling(address, token, "PUT", connections=c) for c in CONNECTIONS}
            get_ceiling, put_ceiling = max(gets.values()), max(puts.values())
            best["GET"], best["PUT"] = max(best["GET"], get_ceiling), max(best["PUT"], put_ceiling)
            print(f"ceilings before N = {n} (raft; req/s by keep-alive connections; the best is the ceiling): "
                  f"GET {', '.join(f'{c}: {v:.0f}' for c, v in gets.items())}; "
                  f"PUT {', '.join(f'{c}: {v:.0f}' for c, v in puts.items())}; "
                  f"load average {os.getloadavg()[0]:.1f}")
            spec = work / f"n{n}.yaml"
            spec.write_text(yaml.safe_dump(objects_spec(n)))
            apply_s, _ = run_measured(work, env, "apply", spec.name, "--auto-approve", "--force")
            plan_s, rss = run_measured(work, env, "plan", spec.name, "--detailed-exitcode")
            # Export of the N objects just applied; with a baseline, alternated
            # with its export, so both see the same load (the fastest of each).
            exports = {"this vaultform": []}
            for _ in range(2 if args.baseline else 1):
                exports["this vaultform"].append(export_seconds(work, env, f"{n}-this"))
                if args.baseline:
                    exports.setdefault("baseline", []).append(export_seconds(work, baseline_env, f"{n}-base"))
            export_s = min(exports["this vaultform"])
            if args.baseline:
                base_s = min(exports["baseline"])
                print(f"export of {n} objects: this vaultform {n / export_s:.0f} obj/s "
                      f"({n / export_s / get_ceiling:.2f} of GET; runs {', '.join(f'{t:.1f}' for t in exports['this vaultform'])} s), "
                      f"--baseline {n / base_s:.0f} obj/s ({n / base_s / get_ceiling:.2f} of GET; runs "
                      f"{', '.join(f'{t:.1f}' for t in exports['baseline'])} s): {base_s / export_s:.1f}x faster",
                      flush=True)
            spec.write_text(yaml.safe_dump(objects_spec(n, rev=1, updated_every=10)))
            update_s, _ = run_measured(work, env, "apply", spec.name, "--auto-approve", "--force")
            destroy_s, _ = run_measured(work, env, "destroy", spec.name, "--auto-approve")
            per_object[n] = (plan_s / n, apply_s / n)
            rates[n] = (n / plan_s, n / apply_s)
            print(header)
            print(f"{n:>7}  {n / plan_s:>10.0f} {n / plan_s / get_ceiling:>5.2f}  {n / apply_s:>11.0f} "
                  f"{n / apply_s / put_ceiling:>5.2f}  {n / export_s:>12.0f} {n / export_s / get_ceiling:>5.2f}  "
                  f"{n / 10 / update_s:>12.0f}  {n / destroy_s:>13.0f}  "
                  f"{rss:>6.0f}MB", flush=True)
        print()
        print(f"against the best ceilings of the whole run (GET {best['GET']:.0f}, PUT {best['PUT']:.0f} req/s): "
              + "; ".join(f"N = {n}: plan {p / best['GET']:.2f}, apply {a / best['PUT']:.2f}"
                          for n, (p, a) in rates.items()))
        if len(sizes) > 1:
            small, large = sizes[0], sizes[-1]
            print(f"per-object time at {large} / at {small}: plan {per_object[large][0] / per_object[small][0]:.2f}x, "
                  f"apply {per_object[large][1] / per_object[small][1]:.2f}x")
        # Behind 20 ms of latency, a plan must not cost N x 20 ms (shown at
        # 1,000 at most: one request at a time would take N x 20 ms to compare).
        n = min(sizes[0], 1000)
        proxy = LatencyProxy(port, 0.020)
        spec = work / f"n{n}.yaml"
        spec.write_text(yaml.safe_dump(objects_spec(n)))
        run_measured(work, env, "apply", spec.name, "--auto-approve", "--force")
        slow_env = {**env, "VAULT_ADDR": f"http://127.0.0.1:{proxy.port}"}
        slow_runs = [("this vaultform", slow_env)]
        if args.baseline:
            slow_runs.append((f"--baseline {args.baseline}",
                              {**slow_env, "PYTHONPATH": str(Path(args.baseline).resolve())}))
        for _ in range(2 if args.baseline else 1):  # alternated, so both see the same load
            for name, run_env in slow_runs:
                plan_s, _ = run_measured(work, run_env, "plan", spec.name, "--detailed-exitcode")
                print(f"no-op plan of {n} objects behind 20 ms of latency ({name}): {plan_s:.1f} s "
                      f"({n * 0.020 / plan_s:.1f}x faster than one request at a time, {n * 0.020:.0f} s)",
                      flush=True)
        for _ in range(2 if args.baseline else 1):
            for k, (name, run_env) in enumerate(slow_runs):
                export_s = export_seconds(work, run_env, f"slow-{k}")
                print(f"export of {n} objects behind 20 ms of latency ({name}): {export_s:.1f} s "
                      f"({n / export_s:.0f} obj/s; N x 20 ms would be {n * 0.020:.0f} s)", flush=True)
        run_measured(work, env, "destroy", spec.name, "--auto-approve")
        proxy.close()
        spec = work / f"n{sizes[-1]}.yaml"
        spec.write_text(yaml.safe_dump(objects_spec(sizes[-1])))
        runs = [("this vaultform", env)]
        if args.baseline:
            runs.append((f"--baseline {args.baseline}", {**env, "PYTHONPATH": str(Path(args.baseline).resolve())}))
        for _ in range(2):  # alternated, so both see the same load
            for name, run_env in runs:
                cpu: list = []
                seconds, _ = run_measured(work, run_env, "validate", spec.name, cpu=cpu)
                print(f"validate of the {sizes[-1]}-object spec ({name}): {cpu[0]:.2f} s CPU, "
                      f"{seconds:.2f} s wall", flush=True)
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        subprocess.run([sys.executable, "-m", "vaultform", "destroy", "cluster.yaml", "--auto-approve"], cwd=work,
                       env={k: v for k, v in env.items() if k not in ("VAULT_ADDR", "VAULT_TOKEN")},
                       capture_output=True)
        kill_bao_under(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
