"""One HTTP/1.1 connection: an asyncio ``Protocol`` over the httptools parser, keep-alive and
pipelining-safe, held to the server's ``ServerLimits``.

Replies go out in request order: an immediate reply is written at once unless an earlier reply on the
same connection is still pending (delayed, hanging or awaited), in which case it queues behind.
Bodies above the application's cap are counted but not kept; a reply from ``Application.head``
refuses a request straight from its headers.

Header bounds are checked as the parser reports each field, and the bytes of a head still in progress
are counted as they arrive, so one endless header line is refused after ``max_head_bytes``: the
parser (which gathers a field until it ends) never holds more. Each connection is in one phase, and
the server's sweep closes it when the phase has lasted longer than its deadline.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import zlib
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any

import httptools

from httpserver.application import Delayed, Hang, Pending, Request, _Reset
from httpserver.responses import raw_response

if TYPE_CHECKING:
    from httpserver.server import HttpServer

__all__ = ["HttpProtocol", "is_loopback"]

_MAX_PENDING = 64
"""Replies a connection may have outstanding before it stops reading (pipelining back-pressure)."""
_SLICE = 16 * 1024
"""Larger reads are parsed in slices of this, so the bytes of an unfinished head are counted to
within one slice."""
_REFUSED_LINGER = 2.0
"""Seconds a refused connection drains what the client still sends before it is closed."""

FRESH, IDLE, HEAD, BODY = range(4)
"""Connection phases: open with no request yet; between requests; in a request's head; in its body."""


class _Refused(Exception):
    """A bound was crossed: answer ``status`` with ``message`` and close."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message


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
        limits = self.limits = server.limits
        self.max_request_line = limits.max_request_line
        self.max_header_count = limits.max_header_count
        self.max_header_line = limits.max_header_line
        self.max_header_bytes = limits.max_header_bytes
        self.max_head_bytes = limits.max_head_bytes
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.loopback = True
        self.pending: deque[_Slot] = deque()
        self.reading = True
        self.can_write = True
        self.stalled_since = 0.0
        """When writing was paused (the client not reading our replies); 0 while it reads."""
        self.refused = False
        self.phase = FRESH
        self.since = server.now
        self.on_message_begin()
        self.phase = FRESH

    def on_message_begin(self) -> None:
        self.phase = HEAD
        self.since = self.server.now
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.header_count = 0
        self.header_bytes = 0
        self.head_bytes = 0
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
        connections = self.server.connections
        connections.add(self)
        if len(connections) > self.limits.max_connections:
            message = f"too many open connections (at most {self.limits.max_connections}); retry shortly"
            self._refuse(self._error(503, message, "", close=True, headers=b"Retry-After: 1\r\n"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.server.connections.discard(self)
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
        self.stalled_since = self.server.now
        self._pause_reading()

    def resume_writing(self) -> None:
        self.can_write = True
        self.stalled_since = 0.0
        if len(self.pending) < _MAX_PENDING:
            self._resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        try:
            if len(data) <= _SLICE:
                self._feed(data)
            else:
                view = memoryview(data)
                for start in range(0, len(data), _SLICE):
                    self._feed(view[start : start + _SLICE])
                    if self.refused or self.transport is None:
                        break
        except _Refused as refusal:
            self._refuse_with(refusal)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _Refused):
                raise
            self._refuse_with(exc.__context__)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not supported")
        except httptools.HttpParserError:
            self._fail(400, "malformed HTTP request")

    def _feed(self, data: bytes | memoryview) -> None:
        self.parser.feed_data(data)
        if self.phase == HEAD:
            # Overcounts by what preceded the head in this slice: at most one slice.
            self.head_bytes += len(data)
            if self.head_bytes > self.max_head_bytes:
                raise _Refused(431, f"request headers larger than {self.max_header_bytes} bytes")

    def timed_out(self, now: float) -> bool:
        """Close the connection if its phase has outlasted its deadline (the server's sweep asks)."""
        limits = self.limits
        phase = self.phase
        if self.stalled_since and now - self.stalled_since > limits.idle_timeout:
            self._abort()  # the client has not read our replies for that long
            return True
        if phase == BODY:
            if now - self.since > limits.body_timeout:
                self._answer_timeout(f"request body not received within {limits.body_timeout:g} s")
                return True
        elif phase == HEAD:
            if now - self.since > limits.header_timeout:
                self._answer_timeout(f"request headers not received within {limits.header_timeout:g} s")
                return True
        elif phase == FRESH:
            if now - self.since > limits.header_timeout:
                self._close()
                return True
        elif not self.pending and now - self.since > limits.idle_timeout:
            self._close()
            return True
        return False

    # -- httptools callbacks (on_message_begin is above) ------------------------------------------

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.max_request_line:
            raise _Refused(414, f"request target longer than {self.max_request_line} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value)
        self.header_count += 1
        self.header_bytes += size
        if size > self.max_header_line:
            raise _Refused(431, f"a header field is longer than {self.max_header_line} bytes")
        if self.header_bytes > self.max_header_bytes:
            raise _Refused(431, f"request headers larger than {self.max_header_bytes} bytes")
        if self.header_count > self.max_header_count:
            raise _Refused(431, f"more than {self.max_header_count} header fields")
        name = name.lower()
        self.headers[name] = value
        if name == b"content-length":
            self.length = int(value) if value.strip().isdigit() else -1

    def on_headers_complete(self) -> None:
        self.phase = BODY
        self.since = self.server.now
        if (
            self.limits.require_host
            and b"host" not in self.headers
            and self.parser.get_http_version() == "1.1"
        ):
            raise _Refused(400, "an HTTP/1.1 request must carry a Host header")
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
        self.phase = IDLE
        self.since = self.server.now
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
        elif type(reply) is Pending:
            reply.attach(partial(self._fill, slot))
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
        if not self.pending:
            self.since = self.server.now  # idle from the last reply on, not from the last request
        if len(self.pending) < _MAX_PENDING and self.can_write:
            self._resume_reading()

    def _error(self, status: int, message: str, target: str, close: bool = False,
               headers: bytes = b"") -> bytes:  # fmt: skip
        body = self.app.error_body(status, message, target)
        return raw_response(status, body, headers=headers, close=close)

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

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _answer_timeout(self, message: str) -> None:
        if self.transport is not None and not self.refused:
            self.refused = True
            reply = self._error(408, message, self.url.decode("latin-1"), close=True)
            if self._queue_last(reply):
                return
            self.transport.write(reply)
        self._close()

    def _refuse_with(self, refusal: _Refused) -> None:
        target = self.url.decode("latin-1")
        self._refuse(self._error(refusal.status, refusal.message, target, close=True))

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
        if self._queue_last(reply):
            return
        self.transport.write(reply)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_REFUSED_LINGER, self._close)

    def _fail(self, status: int, message: str) -> None:
        if self.transport is not None:
            self.refused = True
            reply = self._error(status, message, self.url.decode("latin-1"), close=True)
            if self._queue_last(reply):
                return
            self.transport.write(reply)
            self.transport.close()
            self.transport = None

    def _queue_last(self, reply: bytes) -> bool:
        """With replies still pending, ``reply`` goes out after them (in order) and closes; True then."""
        if not self.pending:
            return False
        slot = _Slot(close=True)
        slot.reply = reply
        self.pending.append(slot)
        self._flush()
        return True
