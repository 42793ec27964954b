"""Serve one ``Application`` over HTTP/1.1 on any number of listening sockets of one event loop.

One sweep per server, a few times a second, closes the connections whose phase (waiting for headers,
for a body, idle) has outlasted its deadline: cheaper than a timer per request, and connections read
a clock the sweep advances instead of asking the loop on every request.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from httpserver.application import Application
from httpserver.limits import ServerLimits
from httpserver.protocol import HttpProtocol

__all__ = ["HttpServer"]


class HttpServer:
    """Connections of one application; ``listen`` once per socket (a public and a private one, say)."""

    def __init__(self, app: Application, loop: asyncio.AbstractEventLoop | None = None,
                 limits: ServerLimits | None = None):  # fmt: skip
        self.app = app
        self.loop = loop or asyncio.get_event_loop()
        self.limits = limits or ServerLimits()
        problems = self.limits.problems()
        if problems:
            raise ValueError("server limits: " + "; ".join(problems))
        self.connections: set[HttpProtocol] = set()
        self.now = self.loop.time()
        """The sweep's clock: loop time, at most one sweep interval old."""
        shortest = min(self.limits.header_timeout, self.limits.body_timeout, self.limits.idle_timeout)
        self._interval = min(1.0, max(0.05, shortest / 4))
        self._sweeper: asyncio.TimerHandle | None = None
        self._servers: list[asyncio.Server] = []

    def protocol(self) -> HttpProtocol:
        return HttpProtocol(self)

    async def listen(self, sock: socket.socket | None = None, host: str | None = None, port: int = 0,
                     ssl_context: ssl.SSLContext | None = None, backlog: int = 4096) -> asyncio.Server:  # fmt: skip
        """Serve on ``sock`` (bound, listening or not) or on a new socket at ``host:port``."""
        if sock is not None:
            server = await self.loop.create_server(self.protocol, sock=sock, ssl=ssl_context, backlog=backlog)
        else:
            server = await self.loop.create_server(
                self.protocol, host, port, ssl=ssl_context, backlog=backlog, reuse_address=True
            )
        self._servers.append(server)
        if self._sweeper is None:
            self._sweep()
        return server

    def close(self) -> None:
        """Stop accepting and sweeping; open connections end with the loop."""
        for server in self._servers:
            server.close()
        self._servers.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def _sweep(self) -> None:
        now = self.now = self.loop.time()
        for connection in list(self.connections):
            if connection.timed_out(now):
                self.connections.discard(connection)  # closing: it may take a moment to be lost
        self._sweeper = self.loop.call_later(self._interval, self._sweep)
