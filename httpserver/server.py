"""Serve one ``Application`` over HTTP/1.1 on any number of listening sockets of one event loop."""

from __future__ import annotations

import asyncio
import socket
import ssl

from httpserver.application import Application
from httpserver.protocol import HttpProtocol

__all__ = ["HttpServer"]


class HttpServer:
    """Connections of one application; ``listen`` once per socket (a public and a private one, say)."""

    def __init__(self, app: Application, loop: asyncio.AbstractEventLoop | None = None):
        self.app = app
        self.loop = loop or asyncio.get_event_loop()
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
        return server

    def close(self) -> None:
        """Stop accepting; open connections end with the loop."""
        for server in self._servers:
            server.close()
        self._servers.clear()
