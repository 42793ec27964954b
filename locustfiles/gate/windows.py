"""Sliding-window figures from Locust's own merged statistics.

Each second the gate snapshots the cumulative counters and the response-time buckets
(``StatsEntry.response_times``: rounded ms -> count) of the entries its rules watch. A window's
figures are the difference between now and the snapshot ``window`` seconds ago, so percentiles
come from the same buckets Locust's own percentiles use, merged across workers on the master
(workers report every 3 s, so a window reflects requests the master has heard of).
"""

from __future__ import annotations

from locust.stats import StatsEntry, calculate_response_time_percentile

from collections import deque
from dataclasses import dataclass

__all__ = ["EntryWindow", "Snapshot", "WindowFigures"]

_PERCENTILE = {
    "p50": 0.5, "median": 0.5, "p66": 0.66, "p75": 0.75, "p80": 0.8, "p90": 0.9, "p95": 0.95, "p98": 0.98,
    "p99": 0.99, "p99.9": 0.999, "p99.99": 0.9999, "p100": 1.0,
}  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    at: float
    requests: int
    failures: int
    total_ms: float
    buckets: dict[int, int]


def snapshot(entry: StatsEntry, at: float) -> Snapshot:
    # Locust merges worker reports into these dicts between our ticks (same greenlet loop, no race).
    return Snapshot(
        at,
        entry.num_requests,
        entry.num_failures,
        float(entry.total_response_time),
        dict(entry.response_times),
    )


@dataclass(frozen=True)
class WindowFigures:
    """The figures of the requests counted between two snapshots."""

    seconds: float
    requests: int
    failures: int
    total_ms: float
    buckets: dict[int, int]

    def value(self, metric: str) -> float | None:
        """The rule metric's value, or None when the window holds no request to judge by."""
        if metric == "requests":
            return float(self.requests)
        if metric == "failures":
            return float(self.failures)
        if metric == "rps":
            return self.requests / self.seconds if self.seconds > 0 else None
        if self.requests <= 0:
            return None
        if metric == "error_rate":
            return self.failures / self.requests
        timed = sum(self.buckets.values())
        if timed <= 0:
            return None
        if metric == "avg":
            return self.total_ms / timed
        if metric == "min":
            return float(min(self.buckets))
        if metric == "max":
            return float(max(self.buckets))
        return float(calculate_response_time_percentile(self.buckets, timed, _PERCENTILE[metric]))


class EntryWindow:
    """Snapshots of one stats entry, kept for the longest window any rule on it needs."""

    def __init__(self, horizon_s: float):
        self.horizon_s = horizon_s
        self.snapshots: deque[Snapshot] = deque()

    def push(self, entry: StatsEntry, at: float) -> None:
        current = snapshot(entry, at)
        if self.snapshots and current.requests < self.snapshots[-1].requests:
            self.snapshots.clear()  # the stats were reset (web UI, a new run): start over
        self.snapshots.append(current)
        # Keep one snapshot at or before the horizon so the longest window is always complete.
        while len(self.snapshots) > 2 and self.snapshots[1].at <= at - self.horizon_s:
            self.snapshots.popleft()

    def figures(self, window_s: float | None, run_started: float) -> WindowFigures | None:
        """The last ``window_s`` seconds (None: since the run started)."""
        if not self.snapshots:
            return None
        latest = self.snapshots[-1]
        if window_s is None:
            return WindowFigures(
                max(latest.at - run_started, 1.0),
                latest.requests,
                latest.failures,
                latest.total_ms,
                latest.buckets,
            )
        start = next((s for s in reversed(self.snapshots) if s.at <= latest.at - window_s), None)
        if start is None:
            # The run is younger than the window: judge what there is, from an empty start.
            start = Snapshot(run_started, 0, 0, 0.0, {})
        buckets = {ms: n - start.buckets.get(ms, 0) for ms, n in latest.buckets.items()}
        return WindowFigures(
            latest.at - start.at,
            latest.requests - start.requests,
            latest.failures - start.failures,
            latest.total_ms - start.total_ms,
            {ms: n for ms, n in buckets.items() if n > 0},
        )
