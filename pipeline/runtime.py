"""Process plumbing shared by both services: uvloop, listening on port 0, ready file, SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from plumbing.ready import write_ready_file

__all__ = ["announce", "listen", "run", "wait_for_stop"]


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop when available (about twice the stock loop's request rate)."""
    logging.basicConfig(level=os.environ.get("PIPELINE_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")  # fmt: skip
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


async def listen(app: web.Application, host: str, port: int, ready_file: str | None,
                 ssl_context: ssl.SSLContext | None = None) -> web.AppRunner:  # fmt: skip
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True, ssl_context=ssl_context)
    await site.start()
    server: Any = site._server  # aiohttp exposes the bound port only here (port 0 support)
    announce(host, server.sockets[0].getsockname()[1], ready_file, ssl_context is not None)
    return runner


def announce(host: str, port: int, ready_file: str | None, tls: bool = False) -> None:
    """Log the URL and write the ready file (what ``runs`` and the tests wait for)."""
    url = f"{'https' if tls else 'http'}://{host}:{port}"
    logging.getLogger("pipeline").info("listening on %s", url)
    if ready_file:
        write_ready_file(ready_file, {"url": url, "pid": os.getpid()})


async def wait_for_stop() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
