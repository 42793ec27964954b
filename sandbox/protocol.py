"""HTTP/1.1 over an asyncio ``Protocol`` with the httptools parser: keep-alive and pipelining-safe.

Replies go out in request order: an immediate reply is written at once unless an earlier reply on the
same connection is still pending (a delayed, hanging or admin reply), in which case it queues behind.
Bodies above the endpoint's cap are counted but not kept, and a declared length above the global
maximum is refused straight from the headers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import zlib
from collections import deque
from typing import Any

import httptools

from sandbox.app import HANG, RESET, Delayed, Hang, Sandbox
from sandbox.responses import json_response

__all__ = ["SandboxProtocol"]

_MAX_PENDING = 64


def _is_loopback(peer: Any) -> bool:
    if not peer or not isinstance(peer, tuple):
        return True  # unix sockets and socketpairs are local
    try:
        return ipaddress.ip_address(peer[0]).is_loopback
    except ValueError:
        return False


class _Slot:
    __slots__ = ("reply", "close", "handle", "work")

    def __init__(self, close: bool):
        self.reply: bytes | None = None
        self.close = close
        self.handle: Any = None
        self.work: Any = None
        """A delayed request's processing, still to run (it does the accounting)."""


class SandboxProtocol(asyncio.Protocol):
    def __init__(self, app: Sandbox, loop: asyncio.AbstractEventLoop):
        self.app = app
        self.loop = loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.loopback = True
        self.pending: deque[_Slot] = deque()
        self.reading = True
        self.can_write = True
        self.refused = False
        self._reset_request()

    def _reset_request(self) -> None:
        self.url = b""
        self.auth: bytes | None = None
        self.strict = False
        self.length = -1
        self.body: list[bytes] = []
        self.size = 0
        self.cap = 0
        self.discarding = False
        self.route: Any = None
        self.method = ""
        self.path = ""
        self.expect_continue = False
        self.gzip = False

    # -- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.loopback = _is_loopback(transport.get_extra_info("peername"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for slot in self.pending:
            if slot.handle is not None:
                slot.handle.cancel()
            if slot.work is not None:
                # The client left while its admitted request waited: process it anyway so the
                # counters still add up to what was sent.
                try:
                    slot.work()
                except Exception:  # noqa: BLE001, S110 - the answer has nowhere to go
                    pass
        self.pending.clear()

    def pause_writing(self) -> None:
        self.can_write = False
        self._pause_reading()

    def resume_writing(self) -> None:
        self.can_write = True
        if len(self.pending) < _MAX_PENDING:
            self._resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not supported")
        except httptools.HttpParserError:
            self._fail(400, "malformed HTTP request")

    # -- httptools callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reset_request()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"authorization":
            self.auth = value
        elif name == b"content-length":
            self.length = int(value) if value.strip().isdigit() else -1
        elif name == b"x-strict-mode":
            self.strict = value.strip() == b"1"
        elif name == b"content-encoding":
            self.gzip = value.strip().lower() == b"gzip"
        elif name == b"expect":
            self.expect_continue = value.strip().lower() == b"100-continue"

    def on_headers_complete(self) -> None:
        self.method = self.parser.get_method().decode("latin-1")
        try:
            self.path = self.url.decode()
        except UnicodeDecodeError:
            self.path = self.url.decode("latin-1")
        self.route = self.app.route(self.method, self.path)
        self.cap = self.app.body_cap(self.route[0])
        if self.length > self.app.config.max_body_bytes:
            self._refuse(self.app.declared_too_large(self.route, self.auth, self.length))
        elif self.length > self.cap:
            self.discarding = True
        if self.expect_continue and not self.refused and not self.pending and self.transport is not None:
            # curl waits a second for this before sending bodies over 1 KB.
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.discarding:
            return
        if self.size > self.cap:
            self.discarding = True
            self.body = []
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.transport is None or self.refused:
            return
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        if self.gzip and body and not self.discarding:
            body = self._gunzip(body)
        try:
            reply = self.app.handle(
                self.method, self.path, self.route, self.auth, self.strict, body,
                self.size if self.discarding else 0, self.loopback,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a bug must cost one 500, never the connection loop
            reply = json_response(500, {"error": f"sandbox internal error: {type(exc).__name__}: {exc}"})
        self._emit(reply, not self.parser.should_keep_alive())

    def _gunzip(self, body: bytes) -> bytes:
        """Decompress at most ``cap`` + 1 bytes, so a small bomb cannot inflate into memory."""
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            plain = inflater.decompress(body, self.cap + 1)
        except zlib.error:
            return b"\xff not gzip"  # invalid UTF-8: answered like any malformed body
        if len(plain) > self.cap or inflater.unconsumed_tail:
            self.discarding = True
            self.size = max(self.size, len(plain))
            return b""
        return plain

    # -- replies ------------------------------------------------------------------------------------

    def _emit(self, reply: Any, close: bool) -> None:
        if type(reply) is bytes and not self.pending:
            self.transport.write(reply)  # type: ignore[union-attr]
            if close:
                self.transport.close()  # type: ignore[union-attr]
            return
        if reply is RESET:
            self._reset_connection()
            return
        slot = _Slot(close)
        self.pending.append(slot)
        if type(reply) is bytes:
            slot.reply = reply
        elif isinstance(reply, Delayed):
            slot.work = reply.reply if callable(reply.reply) else None
            slot.handle = self.loop.call_later(reply.seconds, self._fire, slot, reply.reply)
        elif isinstance(reply, Hang) or reply is HANG:
            seconds = reply.seconds if isinstance(reply, Hang) else 300.0
            slot.handle = self.loop.call_later(seconds, self._close)
        else:  # an awaitable admin reply
            task = self.loop.create_task(reply)
            task.add_done_callback(lambda t: self._fill(slot, _task_reply(t)))
        if len(self.pending) >= _MAX_PENDING:
            self._pause_reading()
        self._flush()

    def _fire(self, slot: _Slot, reply: Any) -> None:
        slot.handle = None
        slot.work = None
        try:
            self._fill(slot, reply() if callable(reply) else reply)
        except Exception as exc:  # noqa: BLE001
            self._fill(slot, json_response(500, {"error": f"sandbox internal error: {exc}"}))

    def _fill(self, slot: _Slot, reply: bytes) -> None:
        slot.reply = reply
        self._flush()

    def _flush(self) -> None:
        while self.pending and self.pending[0].reply is not None and self.transport is not None:
            slot = self.pending.popleft()
            self.transport.write(slot.reply)  # type: ignore[arg-type]
            if slot.close:
                self._close()
                return
        if len(self.pending) < _MAX_PENDING and self.can_write:
            self._resume_reading()

    def _pause_reading(self) -> None:
        if self.reading and self.transport is not None:
            self.reading = False
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if not self.reading and self.transport is not None:
            self.reading = True
            self.transport.resume_reading()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _reset_connection(self) -> None:
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0 makes close() send a TCP RST: the "connection reset by peer" clients see.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def _refuse(self, reply: bytes) -> None:
        """Answer now without reading the body: half-close, drain what arrives, close a bit later.

        Closing at once with unread data would make the kernel send a RST that can destroy the
        answer before the client reads it.
        """
        self.refused = True
        self.discarding = True
        if self.transport is None:
            return
        self.transport.write(reply)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(2.0, self._close)

    def _fail(self, status: int, message: str) -> None:
        if self.transport is not None:
            self.transport.write(json_response(status, {"error": message}, close=True))
            self.transport.close()
            self.transport = None


def _task_reply(task: asyncio.Task[bytes]) -> bytes:
    if task.cancelled():
        return json_response(503, {"error": "admin request cancelled"})
    exc = task.exception()
    if exc is not None:
        return json_response(502, {"error": f"could not gather from all processes: {exc}"})
    return task.result()
