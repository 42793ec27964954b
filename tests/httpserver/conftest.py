"""An ``httpserver`` application served on a free loopback port from an OS thread of the test process."""

from __future__ import annotations

import socket
import sys
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
    join = _start_os_thread(loop.run_forever)
    try:
        yield "127.0.0.1", port
    finally:

        def stop() -> None:
            server.close()
            loop.stop()

        loop.call_soon_threadsafe(stop)
        join(10)
        loop.close()


def _start_os_thread(target: Callable[[], object]) -> Callable[[float], object]:
    """Run ``target`` in an operating-system thread; return its join(timeout)."""
    # Once any test of the session has imported Locust, gevent has patched threading and a
    # threading.Thread is a greenlet of the main thread: the asyncio loop would then block the
    # test itself (the whole suite hung here). gevent's threadpool threads are real ones.
    if "gevent" in sys.modules:
        from gevent import monkey

        if monkey.is_module_patched("threading"):
            import gevent

            return gevent.get_hub().threadpool.spawn(target).wait
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread.join


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
