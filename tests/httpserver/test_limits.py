"""The server's bounds with a small application on real loopback sockets: header count, field and
total sizes (431), the request target (414), Host (400), deadlines per phase (408 or a close), the
connection cap (503), and an endless header line refused without being buffered."""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import orjson
import pytest

from httpserver import Request, ServerLimits, json_response
from tests.httpserver.conftest import exchange, serving

LIMITS = ServerLimits(max_header_count=20, max_header_line=200, max_header_bytes=1000, max_request_line=300,
                      header_timeout=1.0, body_timeout=1.0, idle_timeout=1.0, max_connections=8)  # fmt: skip


class Ok:
    def head(self, request: Request) -> None:
        request.body_cap = 1000

    def respond(self, request: Request) -> bytes:
        return json_response(200, {"ok": True})

    def error_body(self, status: int, message: str, target: str) -> bytes:
        return orjson.dumps({"meta": {"error": message}})


def _answer(data: bytes) -> tuple[int, dict]:
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), orjson.loads(body)


def _until_closed(data: bytes) -> bool:
    return False


@pytest.fixture(scope="module")
def address():
    with serving(Ok(), limits=LIMITS) as where:
        yield where


def _request(extra_headers: str = "", target: str = "/", version: str = "1.1", host: bool = True) -> bytes:
    return f"GET {target} HTTP/{version}\r\n{'Host: t' + chr(13) + chr(10) if host else ''}{extra_headers}\r\n".encode()


@pytest.mark.parametrize(
    ("request_bytes", "status", "words"),
    [
        (_request("".join(f"X-{i}: v\r\n" for i in range(1000))), 431, "more than 20 header fields"),
        (_request("".join("X-Same: v\r\n" for i in range(25))), 431, "more than 20 header fields"),
        (_request(f"X-Long: {'v' * 300}\r\n"), 431, "longer than 200 bytes"),
        (_request("".join(f"X-{i}: {'v' * 150}\r\n" for i in range(10))), 431, "larger than 1000 bytes"),
        (_request(target="/" + "a" * 400), 414, "longer than 300 bytes"),
        (_request(host=False), 400, "Host header"),
    ],
    ids=["1000-headers", "repeated-header", "long-field", "total-size", "long-target", "no-host"],
)
def test_over_a_header_bound_is_answered_in_the_apps_shape_and_closed(address, request_bytes, status, words):
    data = exchange(address, request_bytes, _until_closed)
    got, body = _answer(data)
    assert got == status and words in body["meta"]["error"]
    assert b"Connection: close" in data


def test_http_1_0_needs_no_host_and_a_bound_request_still_passes(address):
    assert _answer(exchange(address, _request(version="1.0", host=False), _until_closed))[0] == 200
    fine = _request("".join(f"X-{i}: v\r\n" for i in range(18)))
    assert _answer(exchange(address, fine, lambda d: d.endswith(b"}")))[0] == 200


def test_an_endless_header_line_is_refused_after_the_bound_not_buffered(address):
    """5 MiB of one header value with no line end: 431 long before the end, the connection closed."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Endless: ")
        sent, answer = 0, b""
        try:
            while sent < 5 * 1024 * 1024 and not answer:
                sock.sendall(b"v" * 65536)
                sent += 65536
                sock.setblocking(False)
                try:
                    answer = sock.recv(65536)
                except BlockingIOError:
                    pass
                sock.setblocking(True)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(10)
        while not answer.endswith(b"}"):
            answer += sock.recv(65536)
    assert _answer(answer)[0] == 431
    assert sent < 5 * 1024 * 1024, "the server read the whole endless line before answering"


def test_slow_headers_get_408_at_the_header_deadline(address):
    """Slowloris: 6 connections trickling header lines are all answered 408 and closed by ~1 s."""
    socks = [socket.create_connection(address, timeout=10) for _ in range(6)]
    started = time.monotonic()
    for sock in socks:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
    answers = []
    for sock in socks:
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
                if time.monotonic() - started < 0.5:
                    sock.sendall(b"X-More: 1\r\n")
        except ConnectionResetError:
            pass
        answers.append(data)
        sock.close()
    assert time.monotonic() - started < 8
    assert all(_answer(a)[0] == 408 for a in answers), answers


def test_an_incomplete_body_gets_408_at_the_body_deadline(address):
    started = time.monotonic()
    data = exchange(address, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{", _until_closed)
    assert 0.9 < time.monotonic() - started < 8
    status, body = _answer(data)
    assert status == 408 and "body not received within 1 s" in body["meta"]["error"]


def test_an_idle_keep_alive_connection_is_closed_after_serving(address):
    started = time.monotonic()
    data = exchange(address, _request(), _until_closed)
    assert _answer(data)[0] == 200
    assert 0.9 < time.monotonic() - started < 8


def test_past_the_connection_cap_a_new_connection_gets_503():
    # Deadlines far off, so the held connections stay open however slow the machine is.
    with serving(Ok(), limits=replace(LIMITS, header_timeout=60, idle_timeout=60)) as where:
        held = [socket.create_connection(where, timeout=10) for _ in range(LIMITS.max_connections)]
        try:
            data = exchange(where, _request(), _until_closed)
            status, body = _answer(data)
            assert status == 503 and "at most 8" in body["meta"]["error"] and b"Retry-After: 1" in data
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 10
        while True:  # the server sees the closes a moment later
            data = exchange(where, _request(), lambda d: d.endswith(b"}"))
            if _answer(data)[0] == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert _answer(data)[0] == 200
