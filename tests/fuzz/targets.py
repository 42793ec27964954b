"""Fuzz targets: the HTTP layer with the real sandbox behind it, and the contract's validators.

Each target takes bytes and raises on a finding: an exception escaping, a 5xx answered, a reply that
is not HTTP, a head held past its bound. ``python -m tests.fuzz.run TARGET`` drives one with atheris
(libFuzzer); tests/fuzz/test_fuzz.py runs both for a bounded time and replays every saved regression.
"""

from __future__ import annotations

import asyncio
import re
from functools import cache
from typing import Any

import orjson

__all__ = ["TARGETS", "protocol", "validators"]

_STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")


class _Transport:
    """Collects what the server writes; enough of asyncio.Transport for HttpProtocol."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@cache
def _server() -> Any:
    """One in-process sandbox (demo workspace, rate limits off) behind an HttpServer."""
    from httpserver import HttpServer
    from sandbox.admin import Admin
    from sandbox.app import Sandbox
    from sandbox.cli import build_config, parse
    from sandbox.server import build_shared

    values, data = parse(["--rate-mode", "off", "--port", "0", "--max-events", "1000"], environ={})
    config = build_config(values, data)
    shared, accounting, limiter = build_shared(config)
    accounting.attach(shared, 0)
    app = Sandbox(config, shared, accounting, limiter, 0)
    Admin(app)
    loop = asyncio.new_event_loop()
    return HttpServer(app, loop, config.server)


def protocol(data: bytes) -> None:
    """Feed ``data`` to one connection in chunks its first byte chooses; check every answer."""
    server = _server()
    connection = server.protocol()
    transport = _Transport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    step = 1 + (data[0] if data else 0) * 7
    for start in range(1, max(len(data), 1), step):
        connection.data_received(data[start : start + step])
        if transport.closed:
            break
    connection.connection_lost(None)
    assert connection.head_bytes <= server.limits.max_head_bytes + 16 * 1024, "head held past its bound"
    for reply in transport.written:
        if reply.startswith(b"HTTP/1.1 100 "):
            continue
        status = _STATUS.match(reply)
        assert status is not None, f"not an HTTP response: {reply[:80]!r}"
        assert int(status[1]) < 500, f"server error for fuzzed input: {reply[:300]!r}"


def validators(data: bytes) -> None:
    """Any JSON value through every validator: each returns its violations and never raises."""
    import cio_contract as contract

    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return
    params = {"id": "u1", "device_id": "d1", "segment_id": "7", "form_id": "f1", "delivery_id": "x"}
    results: list[Any] = []
    for e in contract.ENDPOINTS:
        if e.api is contract.Api.TRACK and not e.name.startswith("v2_") and e.name != "region":
            results.append(contract.validate_v1(e.name, params, body))
        elif e.api is contract.Api.APP:
            results.append(contract.validate_transactional(e.name[len("send_") :], body))
    results += [contract.validate_v2_operation(body), contract.validate_v2_batch(body, len(data)).errors,
                contract.validate_cdp_message(body), contract.validate_cdp_batch(body, len(data))]  # fmt: skip
    for kind in ("identify", "track", "page", "screen", "group", "alias"):
        results.append(contract.validate_cdp_message(body, kind=kind))
    assert all(isinstance(r, list) for r in results)


TARGETS = {"protocol": protocol, "validators": validators}
