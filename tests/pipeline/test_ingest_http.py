"""Ingest answers everything a client sends in the Track API's JSON shape: no 500, 405 with Allow.

One real ingest (on ``httpserver``) in front of the session's Tansu broker; raw sockets for what an
HTTP client library would refuse to send.
"""

from __future__ import annotations

import base64
import gzip
import socket
from pathlib import Path

import orjson
import pytest

from tests.pipeline.conftest import Topics
from tests.pipeline.harness import AUTH, scrape, start_ingest
from tests.support.kafka import Broker

pytestmark = pytest.mark.slow


def _raw(url: str, request: bytes) -> tuple[int, dict[str, str], object]:
    """Send ``request`` bytes; the status, headers and JSON body of the one answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, orjson.loads(body)


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def _request(method: str, path: str, body: bytes = b"", *headers: str, auth: str = AUTH) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: ingest", f"Authorization: {auth}",
             f"Content-Length: {len(body)}", "Content-Type: application/json", *headers]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def test_every_error_is_track_json_and_nothing_is_a_500(
    broker: Broker, topics: Topics, log_dir: Path
) -> None:
    identify = b'{"email":"a@example.com"}'
    with start_ingest(broker, topics, log_dir) as ingest:
        url = ingest.url
        non_ascii = "Basic " + base64.b64encode("démo-site:clé".encode()).decode() + "é"
        status, _, body = _raw(url, _request("PUT", "/api/v1/customers/u1", identify, auth=non_ascii))
        assert (status, body) == (401, {"meta": {"error": "Unauthorized request"}})

        status, _, body = _raw(
            url, _request("PUT", "/api/v1/customers/u1", b"not gzip", "Content-Encoding: gzip")
        )
        assert status == 400 and "gzip" in body["meta"]["error"]  # type: ignore[index]
        zipped = gzip.compress(identify)
        assert _raw(url, _request("PUT", "/api/v1/customers/u1", zipped, "Content-Encoding: gzip"))[0] == 200

        status, headers, body = _raw(url, _request("GET", "/api/v1/customers/u1"))
        assert status == 405 and set(headers["Allow"].split(", ")) == {"PUT", "DELETE"}
        assert "not allowed" in body["meta"]["error"]  # type: ignore[index]

        status, _, body = _raw(url, _request("POST", "/api/v2/nothing", b"{}"))
        assert status == 404 and body["errors"][0]["reason"] == "not_found"  # type: ignore[index]

        status, _, body = _raw(url, _request("POST", "/api/v2/batch", b'{"batch": [1'))
        assert status == 400 and body["errors"][0]["reason"] == "invalid_json"  # type: ignore[index]

        status, _, body = _raw(url, _request("PUT", "/api/v1/customers/u1", b"[1, 2]"))
        assert status == 400 and "meta" in body  # type: ignore[operator]

        declared = _request("POST", "/api/v2/batch").replace(
            b"Content-Length: 0", b"Content-Length: 99999999"
        )
        status, headers, body = _raw(url, declared)
        assert status == 413 and headers.get("Connection") == "close" and "errors" in body  # type: ignore[operator]

        status, _, body = _raw(url, b"GARBAGE\r\n\r\n")
        assert status == 400 and "meta" in body  # type: ignore[operator]

        assert _raw(url, _request("PUT", "/api/v1/customers/u1", identify))[0] == 200  # still serving
        metrics = scrape(url)
    assert not any(key.startswith("pipeline_ingest_requests_total{status=5") for key in metrics), metrics
    assert "Traceback" not in (log_dir / "ingest.log").read_text()
