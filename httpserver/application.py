"""The interface between the HTTP server and what it serves: a parsed request in, a reply out.

A reply is one of:

- ``bytes``: a complete HTTP/1.1 response, written at once (or queued behind earlier replies on the
  same connection, so pipelined requests are answered in order);
- ``Delayed(seconds, reply)``: ``reply`` (bytes, or a callable returning bytes, called at that time)
  after ``seconds``. A callable still runs if the client leaves first, so its side effects (counting
  the request, say) happen exactly once whatever the client does;
- ``Hang(seconds)`` / ``HANG``: never answer; close the connection after ``seconds``;
- ``RESET``: drop the connection with a TCP RST instead of answering;
- ``Pending()``: the application calls its ``resolve(bytes)`` once, later, on the loop's thread
  (from another callback: ingest's broker acknowledgement). No future, no task, no extra loop turn;
- an awaitable of ``bytes`` (a coroutine): written when it completes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["HANG", "RESET", "Application", "Delayed", "Hang", "Pending", "Reply", "Request"]


@dataclass(slots=True)
class Delayed:
    """Send ``reply`` (or what ``reply()`` returns at that time) after ``seconds``."""

    seconds: float
    reply: bytes | Callable[[], bytes]


@dataclass(slots=True)
class Hang:
    """Answer nothing; close the connection after ``seconds``."""

    seconds: float


class _Reset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "RESET"


RESET = _Reset()
HANG = Hang(300.0)


class Pending:
    """A reply given later with ``resolve``; the server writes it as soon as it is resolved."""

    __slots__ = ("_deliver", "_reply")

    def __init__(self) -> None:
        self._reply: bytes | None = None
        self._deliver: Callable[[bytes], None] | None = None

    def resolve(self, reply: bytes) -> None:
        deliver, self._deliver = self._deliver, None
        if deliver is None:
            self._reply = reply  # resolved before the server asked for it
        else:
            deliver(reply)

    def attach(self, deliver: Callable[[bytes], None]) -> None:
        """For the server: where the reply goes (at once if it is already there)."""
        if self._reply is not None:
            deliver(self._reply)
        else:
            self._deliver = deliver


Reply = bytes | Delayed | Hang | _Reset | Pending | Awaitable[bytes]


@dataclass(slots=True)
class Request:
    """One request, filled in as it is parsed.

    ``headers`` maps lower-cased names to raw values (a repeated header keeps its last value).
    ``head`` may set ``body_cap`` (most body bytes worth keeping; beyond it the body is counted in
    ``discarded`` and dropped) and ``context`` (anything the application wants back in ``respond``).
    """

    method: str
    target: str
    headers: dict[bytes, bytes]
    content_length: int
    """The declared ``Content-Length``, -1 when absent (chunked, or no body)."""
    loopback: bool
    """The peer is on 127.0.0.0/8, ::1 or a unix socket."""
    body_cap: int = 0
    context: Any = None
    body: bytes = b""
    discarded: int = 0
    """The body's size when it was dropped for being over ``body_cap``; 0 when it was kept."""
    body_error: str | None = None
    """Why the body could not be decoded (e.g. ``Content-Encoding: gzip`` that is not gzip)."""


class Application(Protocol):
    """What the server calls; both methods run on the event loop and must not block."""

    def head(self, request: Request) -> bytes | None:
        """The headers are complete: set ``body_cap``/``context``, or return a reply that refuses the
        request without reading its body (it should say ``Connection: close``; the server closes)."""

    def respond(self, request: Request) -> Reply:
        """The whole request is in: what to answer."""

    def error_body(self, status: int, message: str, target: str) -> bytes:
        """The JSON body of an error the server answers itself (malformed request, limits, a failing
        ``respond``); ``target`` is the request target when it is known, else ``""``."""
