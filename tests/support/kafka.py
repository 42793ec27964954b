"""The real Tansu Kafka-protocol broker (in-memory storage) on a free loopback port, for a test.

The broker is started by :func:`runs.services.start_tansu`, the same starter ``python -m runs
pipeline`` uses; this module only adds what tests need around it. ``running_broker()`` yields a
``Broker`` with ``bootstrap`` (``127.0.0.1:PORT``), ``create_topics`` and ``freeze``/``thaw``
(SIGSTOP/SIGCONT, for fault tests); the process is stopped on exit, also on failure.
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runs.processes import ManagedProcess
from runs.services import create_topics, start_tansu

__all__ = ["Broker", "running_broker"]


class Broker:
    """A running Tansu broker process."""

    def __init__(self, process: ManagedProcess):
        self.process = process

    @property
    def bootstrap(self) -> str:
        return str(self.process.info["url"])

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def create_topics(self, *names: str, partitions: int = 4) -> None:
        """Create ``names`` with ``partitions`` each and wait until the broker lists them."""
        create_topics(self.bootstrap, list(names), partitions, timeout=15)

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process.alive():
            self.thaw()  # a frozen broker would not act on the SIGTERM
        self.process.stop()


@contextmanager
def running_broker(log_dir: Path | None = None) -> Iterator[Broker]:
    """A Tansu broker with in-memory storage on a free loopback port."""
    with tempfile.TemporaryDirectory(prefix="tansu-") as scratch:
        broker = Broker(start_tansu(Path(log_dir or scratch), timeout=15))
        try:
            yield broker
        finally:
            broker.stop()
