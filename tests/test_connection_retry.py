"""Reads back off when the server asks (429, Retry-After) or a proxy had no
answer (502/504); writes only on 429, which refuses a request before it is
handled. A loopback server stands in for a rate-limited Vault."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from vaultform.connection import VaultAPI
from vaultform.errors import VaultRequestError


class Flaky(http.server.BaseHTTPRequestHandler):
    answers: list = []
    seen: list = []

    def _answer(self):
        self.seen.append((self.command, self.path))
        status = self.answers.pop(0) if self.answers else 200
        body = json.dumps({"data": {"ok": True}} if status == 200 else {"errors": ["slow down"]}).encode()
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Flaky.seen.clear()
    yield server
    server.shutdown()


def test_a_read_backs_off_and_succeeds(flaky):
    Flaky.answers[:] = [429, 502, 200]
    api = VaultAPI(f"http://127.0.0.1:{flaky.server_port}", "t")
    assert api.read("secret/data/x") == {"data": {"ok": True}}
    assert [m for m, _ in Flaky.seen] == ["GET", "GET", "GET"]


@pytest.mark.parametrize("status", [502, 504, 500])
def test_a_write_is_not_retried_when_it_may_have_been_done(flaky, status):
    Flaky.answers[:] = [status]
    api = VaultAPI(f"http://127.0.0.1:{flaky.server_port}", "t")
    with pytest.raises(VaultRequestError):
        api.write("secret/data/x", {"data": {}})
    assert [m for m, _ in Flaky.seen] == ["POST"]
    assert api.pushback == (0 if status == 500 else 1)  # the apply's concurrency hears of a 502/504


def test_a_write_refused_by_a_rate_limit_is_sent_again(flaky):
    """429 (a rate-limit quota) refuses a request before handling it: sent
    again after Retry-After, and counted as pushback."""
    Flaky.answers[:] = [429, 429]
    api = VaultAPI(f"http://127.0.0.1:{flaky.server_port}", "t")
    assert api.write("secret/data/x", {"data": {}}) == {"data": {"ok": True}}
    assert [m for m, _ in Flaky.seen] == ["POST", "POST", "POST"]
    assert api.pushback == 2
