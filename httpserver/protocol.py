"""One HTTP/1.1 connection: an asyncio ``Protocol`` over the httptools parser, keep-alive and
pipelining-safe.

Replies go out in request order: an immediate reply is written at once unless an earlier reply on the
same connection is still pending (delayed, hanging or awaited), in which case it queues behind.
Bodies above the application's cap are counted but not kept; a reply from ``Application.head``
refuses a request straight from its headers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import zlib
from collections import deque
from typing import TYPE_CHECKING, Any

import httptools

from httpserver.application import Delayed, Hang, Request, _Reset
from httpserver.responses import raw_response

if TYPE_CHECKING:
    from httpserver.server import HttpServer

__all__ = ["HttpProtocol", "is_loopback"]

_MAX_PENDING = 64
"""Replies a connection may have outstanding before it stops reading (pipelining back-pressure)."""


def is_loopback(peer: Any) -> bool:
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
        """A delayed reply's callable, still to run (it may do the application's accounting)."""


class HttpProtocol(asyncio.Protocol):
    def __init__(self, server: HttpServer):
        self.server = server
        self.app = server.app
        self.loop = server.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.loopback = True
        self.pending: deque[_Slot] = deque()
        self.reading = True
        self.can_write = True
        self.refused = False
        self.on_message_begin()

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.length = -1
        self.request: Request | None = None
        self.body: list[bytes] = []
        self.size = 0
        self.cap = 0
        self.discarding = False

    # -- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.loopback = is_loopback(transport.get_extra_info("peername"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for slot in self.pending:
            if slot.handle is not None:
                slot.handle.cancel()
            if slot.work is not None:
                # The client left while its admitted request waited: process it anyway so the
                # application's counters still add up to what was sent.
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

    # -- httptools callbacks (on_message_begin is above) ------------------------------------------

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        self.headers[name] = value
        if name == b"content-length":
            self.length = int(value) if value.strip().isdigit() else -1

    def on_headers_complete(self) -> None:
        method = self.parser.get_method().decode("latin-1")
        try:
            target = self.url.decode()
        except UnicodeDecodeError:
            target = self.url.decode("latin-1")
        request = self.request = Request(method, target, self.headers, self.length, self.loopback)
        refusal = self.app.head(request)
        self.cap = request.body_cap
        if refusal is not None:
            self._refuse(refusal)
        elif self.length > self.cap:
            self.discarding = True
        expect = self.headers.get(b"expect")
        if (
            expect is not None
            and expect.strip().lower() == b"100-continue"
            and not self.refused
            and not self.pending
            and self.transport is not None
        ):
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
        request = self.request
        if self.transport is None or self.refused or request is None:
            return
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        encoding = self.headers.get(b"content-encoding")
        if encoding is not None and body and not self.discarding and encoding.strip().lower() == b"gzip":
            body = self._gunzip(body, request)
        request.body = body
        if self.discarding:
            request.discarded = self.size
        try:
            reply = self.app.respond(request)
        except Exception as exc:  # noqa: BLE001 - a bug must cost one 500, never the connection loop
            reply = self._error(500, f"internal error: {type(exc).__name__}: {exc}", request.target)
        self._emit(reply, not self.parser.should_keep_alive())

    def _gunzip(self, body: bytes, request: Request) -> bytes:
        """Decompress at most ``body_cap`` + 1 bytes, so a small bomb cannot inflate into memory."""
        cap = request.body_cap
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            plain = inflater.decompress(body, cap + 1)
        except zlib.error:
            request.body_error = "the body is not valid gzip (Content-Encoding: gzip)"
            return b""
        if len(plain) > cap or inflater.unconsumed_tail:
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
        if type(reply) is _Reset:
            self._reset_connection()
            return
        slot = _Slot(close)
        self.pending.append(slot)
        if type(reply) is bytes:
            slot.reply = reply
        elif type(reply) is Delayed:
            slot.work = reply.reply if callable(reply.reply) else None
            slot.handle = self.loop.call_later(reply.seconds, self._fire, slot, reply.reply)
        elif type(reply) is Hang:
            slot.handle = self.loop.call_later(reply.seconds, self._close)
        else:  # an awaitable reply
            task = asyncio.ensure_future(reply, loop=self.loop)
            task.add_done_callback(lambda t: self._fill(slot, self._task_reply(t)))
        if len(self.pending) >= _MAX_PENDING:
            self._pause_reading()
        self._flush()

    def _fire(self, slot: _Slot, reply: Any) -> None:
        slot.handle = None
        slot.work = None
        try:
            self._fill(slot, reply() if callable(reply) else reply)
        except Exception as exc:  # noqa: BLE001
            self._fill(slot, self._error(500, f"internal error: {type(exc).__name__}: {exc}", ""))

    def _task_reply(self, task: asyncio.Future[bytes]) -> bytes:
        if task.cancelled():
            return self._error(503, "request cancelled", "")
        exc = task.exception()
        if exc is not None:
            return self._error(500, f"internal error: {type(exc).__name__}: {exc}", "")
        return task.result()

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

    def _error(self, status: int, message: str, target: str, close: bool = False) -> bytes:
        return raw_response(status, self.app.error_body(status, message, target), close=close)

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
            target = self.url.decode("latin-1")
            self.transport.write(self._error(status, message, target, close=True))
            self.transport.close()
            self.transport = None
