"""Apply runs independent changes concurrently on a bounded pool, and never
starts a change before what it depends on has succeeded."""

from __future__ import annotations

import threading
import time

import yaml

from vaultform.concurrency import MOST
from vaultform.connection import VaultAPI


def test_independent_changes_overlap_dependencies_are_kept_and_the_report_is_in_plan_order(
        run_cli, vault_env, unique, tmp_path, monkeypatch):
    kv, record = unique("ckv"), unique("crec")
    policies = [unique("cp") for _ in range(24)]
    spec = tmp_path / "vault.yaml"
    spec.write_text(yaml.safe_dump({
        "version": 1, "vault": {"record": {"path": record}},
        "secrets_engines": {kv: {"type": "kv", "options": {"version": "2"}}},
        "policies": {p: 'path "x" { capabilities = ["read"] }\n' for p in policies},
        "secrets": {f"{kv}/s{i}": {"k": str(i)} for i in range(12)}}))

    lock = threading.Lock()
    in_flight, peak, finished = [0], [0], {}
    write = VaultAPI.write

    def slow_write(api, path, data):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            time.sleep(0.05)  # a slow server: overlap shows
            return write(api, path, data)
        finally:
            with lock:
                in_flight[0] -= 1
                finished[path] = time.monotonic()

    started = {}

    def spy_started(api, path, data):
        started.setdefault(path, time.monotonic())
        return slow_write(api, path, data)

    monkeypatch.setattr(VaultAPI, "write", spy_started)
    result = run_cli(["apply", str(spec), "--auto-approve", "--format", "json"], env=vault_env)
    monkeypatch.setattr(VaultAPI, "write", write)
    assert result.exit_code == 0, str(result)

    assert 1 < peak[0] <= MOST, peak
    mount_done = finished[f"sys/mounts/{kv}"]
    assert all(started[f"{kv}/data/s{i}"] >= mount_done for i in range(12))  # never before their mount
    import json
    applied = json.loads(result.stdout)
    planned = [c["address"] for c in applied["changes"]]
    assert applied["apply"]["done"] == planned  # reported in plan order, whatever order they finished in
    again = run_cli(["plan", str(spec), "--detailed-exitcode"], env=vault_env)
    assert again.exit_code == 0, str(again)
