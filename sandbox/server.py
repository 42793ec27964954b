"""Run the sandbox: one event loop per process, N processes sharing one port through SO_REUSEPORT.

The parent creates the shared memory, reserves the port (binding without listening, so port 0 gives
every worker the same real port), forks the workers and writes the ready file once all of them listen.
With one process the parent serves itself.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import sys
import time
from typing import Any

from httpserver import HttpServer
from plumbing.heap import freeze_startup_objects
from plumbing.ready import write_ready_file
from sandbox.accounting import Accounting
from sandbox.admin import Admin
from sandbox.app import Sandbox
from sandbox.arrivals import ArrivalLog, arrivals_path
from sandbox.config import SandboxConfig
from sandbox.faults import Faults
from sandbox.ratelimit import RateLimiter
from sandbox.shared import CTL_PORTS, CTL_READY, SharedMemory
from sandbox.tls import server_context

__all__ = ["build_shared", "serve"]

# Arrivals reach the file within this; the run's reconciliation waits at least this long after a drain.
_ARRIVALS_FLUSH_S = 0.5


def build_shared(config: SandboxConfig) -> tuple[SharedMemory, Accounting, RateLimiter]:
    accounting = Accounting([ws.label for ws in config.workspaces])
    # Index 0 is the "_unknown" workspace: its policy is never consulted, any will do.
    policies = [config.workspaces[0].rate, *(ws.rate for ws in config.workspaces)]
    limiter = RateLimiter(policies)
    shared = SharedMemory(config.processes, accounting.cells, limiter.cells, config.dedup_window)
    limiter.attach(shared)
    if config.faults:
        Faults(shared).set(config.faults)
    return shared, accounting, limiter


def _listen_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def _worker(config: SandboxConfig, shared: SharedMemory, accounting: Accounting, limiter: RateLimiter,
            index: int, sock: socket.socket, on_ready: Any) -> None:  # fmt: skip
    """Serve on ``sock`` until SIGTERM/SIGINT; ``on_ready`` runs once it listens."""
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    accounting.attach(shared, index)
    app = Sandbox(config, shared, accounting, limiter, index)
    Admin(app)
    if config.arrivals_dir:
        app.arrivals = ArrivalLog(arrivals_path(config.arrivals_dir, index))
        _flush_every(loop, app.arrivals, _ARRIVALS_FLUSH_S)
    context: ssl.SSLContext | None = None
    if config.tls_cert and config.tls_key:
        context = server_context(config.tls_cert, config.tls_key)

    server = HttpServer(app, loop, config.server)
    sock.listen(4096)
    loop.run_until_complete(server.listen(sock=sock, ssl_context=context))
    if config.processes > 1:
        private = loop.run_until_complete(server.listen(host="127.0.0.1", port=0))
        shared.control()[CTL_PORTS + index] = private.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    freeze_startup_objects()
    on_ready()
    loop.run_until_complete(stop.wait())
    server.close()
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    if app.arrivals is not None:
        app.arrivals.close()


def _flush_every(loop: asyncio.AbstractEventLoop, log: ArrivalLog, seconds: float) -> None:
    def tick() -> None:
        log.flush()
        loop.call_later(seconds, tick)

    loop.call_later(seconds, tick)


def _ready_info(config: SandboxConfig, port: int) -> dict[str, Any]:
    scheme = "https" if config.tls_cert else "http"
    host = f"[{config.bind}]" if ":" in config.bind else config.bind
    url = f"{scheme}://{host}:{port}"
    return {
        "url": url,
        "pid": os.getpid(),
        "admin": url + "/__sandbox",
        "processes": config.processes,
        # A count: site ids are secrets, and this file lands in run directories.
        "workspaces": len(config.workspaces),
    }


def serve(config: SandboxConfig, ready_file: str | None = None, banner: str = "") -> int:
    """Run until SIGTERM/SIGINT; returns the exit code."""
    shared, accounting, limiter = build_shared(config)
    multi = config.processes > 1
    if multi and config.port:
        # SO_REUSEPORT would silently join another sandbox already on this port; a plain bind fails.
        _listen_socket(config.bind, config.port, reuse_port=False).close()
    sock = _listen_socket(config.bind, config.port, reuse_port=multi)
    port = sock.getsockname()[1]
    info = _ready_info(config, port)

    def announce() -> None:
        print(f"sandbox listening on {info['url']} ({config.processes} process(es)){banner}", flush=True)
        if ready_file:
            write_ready_file(ready_file, info)

    if not multi:
        _worker(config, shared, accounting, limiter, 0, sock, announce)
        return 0
    return _supervise(config, shared, accounting, limiter, sock, announce)


def _supervise(config: SandboxConfig, shared: SharedMemory, accounting: Accounting, limiter: RateLimiter,
               reservation: socket.socket, announce: Any) -> int:  # fmt: skip
    host, port = config.bind, reservation.getsockname()[1]
    control = shared.control()
    children = []
    for index in range(config.processes):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                reservation.close()
                sock = _listen_socket(host, port, reuse_port=True)
                _worker(config, shared, accounting, limiter, index, sock, lambda: _count_ready(shared))
            except BaseException as exc:  # noqa: BLE001 - report and leave with a code, never return
                print(f"sandbox worker {index}: {exc}", file=sys.stderr, flush=True)
                code = 1
            os._exit(code)
        children.append(pid)
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            _kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.monotonic() + 30
    while control[CTL_READY] < config.processes and time.monotonic() < deadline and not stopping:
        if any(os.waitpid(c, os.WNOHANG)[0] for c in children):
            stop(0, None)
            break
        time.sleep(0.02)
    if not stopping:
        announce()
    return _wait_children(children, stop)


def _count_ready(shared: SharedMemory) -> None:
    with shared.lock:
        shared.control()[CTL_READY] += 1


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_children(children: list[int], stop: Any) -> int:
    code = 0
    remaining = set(children)
    while remaining:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid in remaining:
            remaining.discard(pid)
            if os.waitstatus_to_exitcode(status) not in (0, -signal.SIGTERM):
                code = 1
            if remaining:
                stop(0, None)  # one worker gone means the port serves less: stop the rest too
    return code
