"""A loopback HTTP server that accepts every POST and throws it away: the
receiving end of an http audit device, which OpenBao checks when it enables one."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Iterator


class _Discard(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server interface
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@contextmanager
def http_sink() -> Iterator[str]:
    """Yields the sink's URL (http://127.0.0.1:<port>/log); stopped on exit."""
    server = HTTPServer(("127.0.0.1", 0), _Discard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/log"
    finally:
        server.shutdown()
        server.server_close()
