"""An ``httpserver`` application served on a free loopback port from a thread of the test process."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvloop

from httpserver import HttpServer

__all__ = ["serving", "exchange"]


@contextmanager
def serving(app: Any, **server_options: Any) -> Iterator[tuple[str, int]]:
    """``(host, port)`` of ``HttpServer(app, **server_options)`` running until the block ends."""
    loop = uvloop.new_event_loop()
    server = HttpServer(app, loop, **server_options)
    listening = loop.run_until_complete(server.listen(host="127.0.0.1", port=0))
    port = listening.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", port
    finally:

        def stop() -> None:
            server.close()
            loop.stop()

        loop.call_soon_threadsafe(stop)
        thread.join(10)
        loop.close()


def exchange(
    address: tuple[str, int], data: bytes, until: Callable[[bytes], bool], timeout: float = 10
) -> bytes:
    """Send ``data`` on a new connection and read until ``until(received)`` or the peer closes."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while not until(received):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received
