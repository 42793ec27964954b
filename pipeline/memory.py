"""Resident-memory guard: samples this process's RSS and says when it is over the configured bound.

Ingest answers 503 and the sender pauses consumption while ``over()`` is true, so a backlog turns into
back-pressure instead of growth (the scaling guide's "memory pressure" row).
"""

from __future__ import annotations

import threading

import psutil
from prometheus_client import Gauge

__all__ = ["MemoryGuard"]


class MemoryGuard:
    def __init__(self, max_rss_mb: int, gauge: Gauge, interval: float = 0.25, high: float = 0.9):
        self.limit = max_rss_mb * 1024 * 1024
        # Act a little below the bound: RSS keeps growing for a moment after the check.
        self._threshold = self.limit * high
        self._gauge = gauge
        self._interval = interval
        self._over = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_forever, name="rss-guard", daemon=True)
        self._process = psutil.Process()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def over(self) -> bool:
        return self._over

    def _sample_forever(self) -> None:
        while not self._stop.wait(self._interval):
            rss = self._process.memory_info().rss
            self._gauge.set(rss)
            self._over = rss > self._threshold
