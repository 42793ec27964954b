"""The sampler sends the sandbox's admin token, and a refusal for want of one says what to set."""

from __future__ import annotations

import locust  # noqa: F401 - gevent must patch ssl before anything imports it

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from locustfiles.monitoring.scrape import scrape

TOKEN = "a-sandbox-admin-token-0123456789"


class _NeedsToken(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        ok = self.headers.get("Authorization") == f"Bearer {TOKEN}"
        body = b'sandbox_requests_total{outcome="accepted"} 3\n' if ok else b'{"error": "token"}'
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def guarded_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NeedsToken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def test_scrape_sends_the_bearer_token(guarded_url: str) -> None:
    refused = scrape(guarded_url, 5.0)
    assert refused.samples is None and refused.error is not None and "SANDBOX_ADMIN_TOKEN" in refused.error
    answered = scrape(guarded_url, 5.0, TOKEN)
    assert answered.samples == {("sandbox_requests_total", (("outcome", "accepted"),)): 3.0}
