"""Bad input never crashes the sandbox or leaks memory: malformed, truncated, huge and wrongly-typed
requests at every endpoint get a 4xx JSON answer (never a 5xx), the counters match what was sent,
and the process's memory stays flat over repeated rounds."""

from __future__ import annotations

import base64
import http.client
import json
import random
import socket

import psutil

from cio_contract import ENDPOINTS, Api
from tests.sandbox.conftest import UNLIMITED
from tests.support.sandbox import running_sandbox, sandbox_stats

CREDENTIALS = {
    Api.TRACK: "Basic " + base64.b64encode(b"demo-site:demo-track-key").decode(),
    Api.APP: "Bearer demo-app-key",
    Api.CDP: "Basic " + base64.b64encode(b"demo-cdp-key:").decode(),
}
WRONG_TYPES = [None, True, 0, -1, 1.5, 2**70, "", "x" * 5000, [], [None], {}, {"a": {"b": [1, {"c": None}]}}]
FIELDS = ["name", "data", "id", "type", "timestamp", "anonymous_id", "device", "primary", "secondary", "batch",
          "identifiers", "action", "attributes", "userId", "event", "traits", "to", "attachments",
          "transactional_message_id", "properties", "messageId"]  # fmt: skip


def _bodies(rng: random.Random) -> list[bytes]:
    valid = json.dumps({"name": "e", "data": {"a": 1}, "batch": [{"type": "person"}]}).encode()
    bodies = [b"", b"{", b"}", b"null", b"[]", b'"str"', b"0", b"\xff\xfe\xfd", b'{"a":"\\ud800"}', b"NaN",
              b"[" * 5000 + b"]" * 5000, b'{"a":1,"a":2}', valid[: len(valid) // 2], rng.randbytes(300),
              b'{"batch": [' + b"{}," * 3000 + b"{}]}", b'{"x": "' + b"y" * 200_000 + b'"}']  # fmt: skip
    for _ in range(40):
        document = {rng.choice(FIELDS): rng.choice(WRONG_TYPES) for _ in range(rng.randint(1, 5))}
        if rng.random() < 0.5:
            document = {"batch": [document, rng.choice(WRONG_TYPES)]}
        bodies.append(json.dumps(document).encode())
    return bodies


def _path(template: str, rng: random.Random) -> str:
    ids = ["u1", "%00", "%FF%FE", "a%2Fb", "x" * 400, "%", "%C3%A9"]
    return template.replace("{id}", rng.choice(ids)).replace("{device_id}", rng.choice(ids))


def _round(url: str, rng: random.Random) -> tuple[int, list[int]]:
    """One request with every fuzz body at every endpoint; returns (sent, statuses)."""
    host, port = url.rsplit("/", 1)[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    statuses = []
    bodies = _bodies(rng)
    for endpoint in ENDPOINTS:
        for body in bodies:
            headers = {"Authorization": CREDENTIALS[endpoint.api], "Content-Type": "application/json"}
            if rng.random() < 0.1:
                headers["X-Strict-Mode"] = "1"
            connection.request(endpoint.method, _path(endpoint.path, rng), body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            assert response.getheader("Content-Type") == "application/json"
            json.loads(payload)  # every answer is JSON
            statuses.append(response.status)
    connection.close()
    return len(statuses), statuses


def _malformed_http(url: str) -> None:
    host, port = url.rsplit("/", 1)[1].split(":")
    garbage = [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"GET\r\n\r\n", b"PUT /api/v1/customers/u HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
               b"POST /v1/batch HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n", b"GET / HTTP/9.9\r\n\r\n",
               b"PUT /api/v1/customers/u HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}"]  # fmt: skip
    for data in garbage:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            try:
                while sock.recv(65536):
                    pass
            except ConnectionResetError:
                pass


def test_fuzz_every_endpoint(tmp_path):
    """Three rounds of fuzz at every endpoint: no 5xx, counters exact, memory flat, still serving."""
    rng = random.Random(20261128)
    with running_sandbox(*UNLIMITED, "--max-events", "1000", log_dir=tmp_path) as sb:
        process = psutil.Process(sb.pid)
        sent, statuses = _round(sb.url, rng)
        _malformed_http(sb.url)
        baseline = process.memory_info().rss
        for _ in range(3):
            more, more_statuses = _round(sb.url, rng)
            _malformed_http(sb.url)
            sent += more
            statuses += more_statuses
        growth = process.memory_info().rss - baseline
        stats = sandbox_stats(sb.url)
        assert sb.alive()
    assert not [s for s in statuses if s >= 500], "a handler failed on bad input"
    assert set(statuses) <= {200, 207, 400, 401, 404, 405, 413}
    assert stats["totals"]["requests"] == sent
    assert (
        sum(stats["totals"][k] for k in ("accepted", "invalid", "too_large", "not_found", "unauthorized"))
        == sent
    )
    assert growth < 40 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB over three rounds"
