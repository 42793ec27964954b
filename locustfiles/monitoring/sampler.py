"""Sample the target's metrics once a second in a greenlet and append rows to system_history.csv.

The sampler keeps a fixed cadence whatever its sources do: every scrape has a deadline shorter than
the interval, all sources are scraped concurrently, and a source that fails only leaves its cells
empty for that second. It also keeps the latest state for the web UI (:meth:`SystemSampler.view`).
"""

from __future__ import annotations

import gevent

import csv
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from locustfiles.monitoring import history
from locustfiles.monitoring.history import COLUMNS, Reading
from locustfiles.monitoring.scrape import Scrape, redact, scrape

__all__ = ["SourceState", "SystemSampler"]

log = logging.getLogger(__name__)
_PEAK_COLUMNS = ("sandbox_budget_used", "pipeline_consumer_lag")


@dataclass
class SourceState:
    """What the sampler knows about one metrics endpoint during the current run."""

    url: str
    first: Reading | None = None
    last: Reading | None = None
    error: str | None = None
    """Why the latest scrape failed; None after a good one."""
    rates: dict[str, float] = field(default_factory=dict)
    """This source's columns in the latest row."""

    @property
    def shown_url(self) -> str:
        return redact(self.url)


class SystemSampler:
    """Scrape ``urls`` every ``interval`` seconds between :meth:`start` and :meth:`stop`."""

    def __init__(
        self,
        urls: Sequence[str],
        csv_path: Path | None,
        *,
        interval: float = 1.0,
        timeout: float = 0.8,
        token: str | None = None,
    ):
        self.sources = [SourceState(url) for url in dict.fromkeys(urls)]
        self._token = token
        self.csv_path = csv_path
        self.interval = interval
        self.timeout = min(timeout, interval * 0.8)
        self.rows_written = 0
        self.latest: dict[str, float | None] = dict.fromkeys(COLUMNS)
        self.peaks: dict[str, float] = {}
        """Highest budget used and queue lag seen in this run (for the live view)."""
        self._file: IO[str] | None = None
        self._writer: Any = None
        self._greenlet: gevent.Greenlet | None = None

    @property
    def running(self) -> bool:
        return self._greenlet is not None and not self._greenlet.dead

    def start(self) -> None:
        """Open the CSV (header first), take the baseline scrape and start the sampling greenlet."""
        self.stop()
        if self.csv_path is not None:
            self.csv_path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.csv_path, "w", newline="")  # noqa: SIM115 - closed in stop()
            self._writer = csv.writer(self._file)
            self._writer.writerow(COLUMNS)
            self._file.flush()
        self.rows_written = 0
        self.peaks = {}
        for source in self.sources:
            source.first = source.last = None
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        """Stop sampling and close the CSV; safe to call twice or before start()."""
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=self.interval + self.timeout)
            self._greenlet = None
        if self._file is not None:
            self._file.close()
            self._file = None
            self._writer = None

    def _run(self) -> None:
        next_at = time.monotonic()
        self._scrape_all()  # the baseline: rates need a previous reading
        while True:
            next_at += self.interval
            gevent.sleep(max(0.0, next_at - time.monotonic()))
            self.sample()
            # After a stall (a paused process, a blocked event loop) resume the cadence instead of
            # writing a burst of rows to catch up.
            next_at = max(next_at, time.monotonic() - self.interval)

    def sample(self) -> dict[str, float | None]:
        """Take one row now: scrape every source, compute rates, append the row to the CSV."""
        at = time.time()
        self._scrape_all()
        row = history.combine(round(at, 3), [s.rates for s in self.sources if s.error is None])
        self.latest = row
        for column in _PEAK_COLUMNS:
            value = row[column]
            if value is not None:
                self.peaks[column] = max(value, self.peaks.get(column, value))
        if self._writer is not None and self._file is not None:
            self._writer.writerow(_cell(row[column]) for column in COLUMNS)
            self._file.flush()
        self.rows_written += 1
        return row

    def _scrape_all(self) -> None:
        jobs = [gevent.spawn(scrape, source.url, self.timeout, self._token) for source in self.sources]
        gevent.joinall(jobs, timeout=self.timeout + 0.2)
        for source, job in zip(self.sources, jobs, strict=True):
            result: Scrape | None = job.value if job.successful() else None
            if result is None:
                job.kill(block=False)
            self._update(source, result)

    def _update(self, source: SourceState, result: Scrape | None) -> None:
        if result is None or result.samples is None:
            source.error = result.error if result is not None else "scrape did not finish"
            source.rates = {}
            return
        reading = history.read(result.samples, result.at)
        source.rates = history.rates(source.last, reading)
        source.first = source.first or reading
        source.last = reading
        source.error = None


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}".rstrip("0").rstrip(".") or "0"
