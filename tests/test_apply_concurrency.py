"""Apply runs independent changes concurrently on a bounded pool, and never
starts a change before what it depends on has succeeded."""

from __future__ import annotations

import threading
import time

import pytest
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


def test_the_write_concurrency_grows_while_throughput_rises_and_backs_off_on_pushback():
    """vaultform/concurrency.py against a model server whose throughput rises
    with the writes in flight up to 20, then stays flat."""
    from vaultform.concurrency import LEAST, START, AdaptiveLimit

    now = [0.0]
    limit = AdaptiveLimit(clock=lambda: now[0])
    seen = []
    for _ in range(6000):
        now[0] += 1 / (100.0 * min(limit.limit, 20))
        limit.finished(0)
        seen.append(limit.limit)
    assert seen[0] == START and max(seen) <= MOST
    assert 20 <= min(seen[-1000:]) and max(seen[-1000:]) <= MOST  # grew to where more stops paying
    settled = limit.limit
    limit.finished(pushback=1)  # a 429 (or 502/503/504) was counted
    assert limit.limit == max(LEAST, settled // 2)
    for _ in range(200):
        now[0] += 0.001
        limit.finished(pushback=1)  # no new pushback: the count did not move
    assert limit.limit == max(LEAST, settled // 2)  # held for a while before trying more again


def test_a_rate_limit_quota_is_waited_out_and_lowers_the_concurrency(
        run_cli, vault_env, root, unique, tmp_path, monkeypatch):
    """A rate-limit quota on a mount answers 429 with Retry-After (Measured on
    OpenBao 2.7.2 dev server): the writes are retried after it, the apply halves
    its concurrency, and everything is written."""
    from vaultform import concurrency

    kv, record = unique("qkv"), unique("qrec")
    root.sys.enable_secrets_engine("kv", path=kv, options={"version": "2"})
    quota = unique("quota")
    root.write_data(f"sys/quotas/rate-limit/{quota}", data={"rate": 10, "interval": "1s", "path": f"{kv}/"})
    try:
        spec = tmp_path / "vault.yaml"
        spec.write_text(yaml.safe_dump({
            "version": 1, "vault": {"record": {"path": record}},
            "secrets_engines": {kv: {"type": "kv", "options": {"version": "2"}}},
            "secrets": {f"{kv}/s{i}": {"k": str(i)} for i in range(40)}}))
        limits = []
        finished = concurrency.AdaptiveLimit.finished

        def spy(self, pushback=0):
            finished(self, pushback)
            limits.append((pushback, self.limit))

        monkeypatch.setattr(concurrency.AdaptiveLimit, "finished", spy)
        result = run_cli(["apply", str(spec), "--auto-approve"], env=vault_env)
        assert result.exit_code == 0, str(result)
        assert any(pushback for pushback, _ in limits), limits  # the quota did push back
        assert min(n for _, n in limits) < concurrency.START, limits
    finally:
        root.delete(f"sys/quotas/rate-limit/{quota}")
    for i in range(40):  # checked once the quota is gone: it would refuse these reads too
        assert root.secrets.kv.v2.read_secret_version(path=f"s{i}", mount_point=kv,
                                                      raise_on_deleted_version=True)["data"]["data"] == {"k": str(i)}
    again = run_cli(["plan", str(spec), "--detailed-exitcode"], env=vault_env)
    assert again.exit_code == 0, str(again)


def test_reads_run_with_as_many_in_flight_as_pay_in_order_and_never_more_than_the_limit():
    """vaultform/concurrency.adaptive_map (a plan's reads, the record's shards)
    against a model server 10 ms away: each read takes its round trip, so the
    more in flight the faster, and the limit grows from READ_START to MOST."""
    from vaultform.concurrency import MOST, READ_START, adaptive_map

    in_flight, peak, lock = [0], [0], threading.Lock()

    def read(item: int) -> int:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.010)
        with lock:
            in_flight[0] -= 1
        return item * 2

    items = list(range(4000))
    assert adaptive_map(read, items, pushback=lambda: 0) == [i * 2 for i in items]
    assert READ_START < peak[0] <= MOST, peak


def test_a_failed_read_is_raised_after_the_others_finished():
    from vaultform.concurrency import adaptive_map

    done = []

    def read(item: int) -> int:
        if item == 7:
            raise ValueError("the seventh read failed")
        done.append(item)
        return item

    with pytest.raises(ValueError, match="seventh"):
        adaptive_map(read, range(50), pushback=lambda: 0)
    assert sorted(done) == [i for i in range(50) if i != 7]


def test_pushback_lowers_the_reads_in_flight():
    from vaultform.concurrency import READ_START, adaptive_map

    pushback, in_flight, after, lock = [0], [0], [], threading.Lock()

    def read(item: int) -> None:
        with lock:
            in_flight[0] += 1
            if item == 100:
                pushback[0] += 1   # a 429 answered here: the connection counted it
            if item > 300:
                after.append(in_flight[0])
        time.sleep(0.002)
        with lock:
            in_flight[0] -= 1

    adaptive_map(read, range(400), pushback=lambda: pushback[0])
    assert max(after) <= READ_START // 2, max(after)
