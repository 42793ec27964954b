"""The generic server with a small application: in-order pipelined replies of every kind, body caps,
gzip, refusals from the headers, and a failing application costing one 500, never the connection."""

from __future__ import annotations

import asyncio
import gzip
import socket
import time

import orjson

from httpserver import RESET, Delayed, Hang, Pending, Request, json_response
from tests.httpserver.conftest import exchange, serving


class Echo:
    """Answers by path: /delay, /hang, /reset, /await, /pending, /resolved, /boom, /refuse; else echoes."""

    def __init__(self) -> None:
        self.late_work: list[str] = []

    def head(self, request: Request) -> bytes | None:
        request.body_cap = 100
        if request.target == "/refuse":
            return json_response(413, {"error": "refused"}, close=True)
        return None

    def respond(self, request: Request) -> object:
        target = request.target
        if target == "/delay":
            return Delayed(0.3, lambda: self._late(target))
        if target == "/hang":
            return Hang(0.5)
        if target == "/reset":
            return RESET
        if target == "/await":
            return self._later()
        if target in ("/pending", "/resolved"):  # resolved by a later callback, or before returning
            reply = Pending()
            answer = json_response(200, {"target": target})
            if target == "/resolved":
                reply.resolve(answer)
            else:
                asyncio.get_running_loop().call_later(0.1, reply.resolve, answer)
            return reply
        if target == "/boom":
            raise RuntimeError("bug")
        return json_response(200, {"target": target, "body": request.body.decode("latin-1"),
                                   "discarded": request.discarded, "error": request.body_error,
                                   "loopback": request.loopback,
                                   "host": request.headers.get(b"host", b"").decode()})  # fmt: skip

    def _late(self, target: str) -> bytes:
        self.late_work.append(target)
        return json_response(200, {"target": target})

    async def _later(self) -> bytes:
        await asyncio.sleep(0.1)
        return json_response(200, {"target": "/await"})

    def error_body(self, status: int, message: str, target: str) -> bytes:
        return orjson.dumps({"error": message, "target": target})


def _get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()


def _bodies(data: bytes) -> list[dict]:
    return [orjson.loads(part.split(b"\r\n\r\n", 1)[1]) for part in data.split(b"HTTP/1.1 ")[1:]]


def test_pipelined_replies_come_back_in_request_order():
    """A delayed, an awaited and a pending reply hold back the immediate ones queued behind them."""
    paths = ["/delay", "/a", "/await", "/b", "/pending", "/resolved", "/c"]
    with serving(Echo()) as address:
        data = exchange(address, b"".join(_get(p) for p in paths),
                        lambda d: d.count(b"HTTP/1.1 ") == len(paths) and d.endswith(b"}"))  # fmt: skip
    assert [b["target"] for b in _bodies(data)] == paths


def test_delayed_work_runs_even_when_the_client_leaves():
    app = Echo()
    with serving(app) as address:
        with socket.create_connection(address, timeout=5) as sock:
            sock.sendall(_get("/delay"))
        deadline = time.monotonic() + 10
        while not app.late_work and time.monotonic() < deadline:
            time.sleep(0.05)
    assert app.late_work == ["/delay"]


def test_hang_closes_without_an_answer_and_reset_sends_rst():
    with serving(Echo()) as address:
        started = time.monotonic()
        assert exchange(address, _get("/hang"), lambda d: False) == b""
        assert 0.4 < time.monotonic() - started < 9
        try:
            data = exchange(address, _get("/reset"), lambda d: False)
        except ConnectionResetError:
            data = b""
        assert data == b""


def test_a_failing_application_costs_one_500_and_the_connection_keeps_serving():
    with serving(Echo()) as address:
        data = exchange(
            address, _get("/boom") + _get("/after"), lambda d: d.count(b"HTTP/1.1 ") == 2 and d.endswith(b"}")
        )
    first, second = _bodies(data)
    assert data.startswith(b"HTTP/1.1 500 ") and first["error"].startswith("internal error: RuntimeError")
    assert second["target"] == "/after"


def test_body_over_the_cap_is_counted_not_kept_and_gzip_is_decoded():
    big = b"x" * 500
    with serving(Echo()) as address:
        over = exchange(address, b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n" + big,
                        lambda d: d.endswith(b"}"))  # fmt: skip
        packed = gzip.compress(b"hello")
        unpacked = exchange(address, b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\n"
                            b"Content-Length: %d\r\n\r\n" % len(packed) + packed, lambda d: d.endswith(b"}"))  # fmt: skip
        bomb = gzip.compress(b"y" * 10_000)
        inflated = exchange(address, b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\n"
                            b"Content-Length: %d\r\n\r\n" % len(bomb) + bomb, lambda d: d.endswith(b"}"))  # fmt: skip
        fake = exchange(address, b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\n"
                        b"Content-Length: 3\r\n\r\nabc", lambda d: d.endswith(b"}"))  # fmt: skip
    assert _bodies(over)[0] == {
        "target": "/p",
        "body": "",
        "discarded": 500,
        "error": None,
        "loopback": True,
        "host": "t",
    }
    assert _bodies(unpacked)[0]["body"] == "hello"
    assert _bodies(inflated)[0]["discarded"] > 100 and _bodies(inflated)[0]["body"] == ""
    assert "not valid gzip" in _bodies(fake)[0]["error"]


def test_a_refusal_from_the_headers_is_answered_before_the_body_arrives():
    with serving(Echo()) as address:
        data = exchange(
            address,
            b"POST /refuse HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n",
            lambda d: d.endswith(b"}"),
        )
    assert data.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in data


def test_malformed_request_gets_the_applications_error_shape():
    with serving(Echo()) as address:
        data = exchange(address, b"GET /x HTTP/1.1\r\nBad Header\r\n\r\n", lambda d: False)
    assert data.startswith(b"HTTP/1.1 400 ")
    assert _bodies(data)[0]["error"] == "malformed HTTP request"


def test_a_refusal_waits_for_the_replies_pipelined_before_it():
    """A delayed reply, then a request refused from its headers (no Host): both come back, in order."""
    with serving(Echo()) as address:
        data = exchange(address, _get("/delay") + b"GET /x HTTP/1.1\r\n\r\n", lambda d: False)
    assert data.startswith(b"HTTP/1.1 200 ") and data.index(b'"/delay"') < data.index(b"HTTP/1.1 400 ")
    assert data.endswith(b'"target":"/x"}')
