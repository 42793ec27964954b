"""Start a real ``redis-server`` (no persistence) on a free loopback port for a test.

``running_redis()`` yields the ``redis://127.0.0.1:PORT/0`` URL and kills the server on exit.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from plumbing.ports import free_port

__all__ = ["running_redis"]


@contextmanager
def running_redis() -> Iterator[str]:
    """A redis-server on loopback with persistence off; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed; run `make system-deps`")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    popen = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or popen.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        popen.kill()
        popen.wait(10)
