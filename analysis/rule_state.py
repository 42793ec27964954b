"""The state of one live rule over a run: ok, breaching for N s, tripped; grace and persistence.

Pure bookkeeping fed one value a second, shared by the live gate on the Locust master
(``locustfiles.gate``) and by the end-of-run gate when it replays ``system_history.csv``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from analysis.slo import Threshold, format_value

__all__ = ["RuleState", "SeriesWindow", "replay"]


@dataclass
class RuleState:
    """One rule on one endpoint (or the aggregate, or a target-side series)."""

    rule: Threshold
    endpoint: str
    breaching_since: float | None = None
    """Run time (s) of the first failing value of the current unbroken breach."""
    tripped_at: float | None = None
    """Run time (s) the breach had lasted ``for``: the rule tripped (first time only)."""
    trip_value: float | None = None
    last_value: float | None = None
    last_at: float | None = None
    worst: float | None = None
    judged: int = 0
    """How many seconds had a value to judge (after the grace period)."""

    def update(self, elapsed: float, value: float | None) -> bool:
        """Judge one second's value at run time ``elapsed``; True when the rule trips now.

        No value (no request finished in the window, the target did not answer) neither starts
        nor breaks a breach: a gate must not be reset by the silence of a target that hangs.
        """
        self.last_at = elapsed
        if elapsed < self.rule.after_s:
            return False
        if value is None or math.isnan(value):
            self.last_value = None
            return False
        self.judged += 1
        self.last_value = value
        if self.worst is None or self._badness(value) > self._badness(self.worst):
            self.worst = value
        if self.rule.holds(value):
            self.breaching_since = None
            return False
        if self.breaching_since is None:
            self.breaching_since = elapsed
        if self.tripped_at is None and elapsed - self.breaching_since >= self.rule.for_s:
            self.tripped_at, self.trip_value = elapsed, value
            return True
        return False

    def _badness(self, value: float) -> float:
        if self.rule.op in ("<", "<="):
            return value
        if self.rule.op in (">", ">="):
            return -value
        return abs(value - self.rule.value)

    @property
    def tripped(self) -> bool:
        return self.tripped_at is not None

    def status(self) -> str:
        """``ok`` / ``breaching for 3 s`` / ``tripped at 12 s`` / ``grace (…)`` / ``no data``."""
        if self.tripped_at is not None:
            return f"tripped at {self.tripped_at:.0f} s"
        if self.last_at is None or self.last_at < self.rule.after_s:
            left = self.rule.after_s - (self.last_at or 0.0)
            return f"grace ({left:.0f} s left)"
        if self.breaching_since is not None:
            return f"breaching for {self.last_at - self.breaching_since:.0f} s"
        return "ok" if self.last_value is not None else "no data"

    def shown_value(self) -> str:
        return "–" if self.last_value is None else format_value(self.rule.metric, self.last_value)

    def record(self) -> dict[str, Any]:
        """The JSON entry ``slo_live.json`` keeps for this rule (read by the end-of-run gate)."""
        return {
            "key": self.rule.key,
            "rule": self.rule.text,
            "endpoint": self.endpoint,
            "action": self.rule.action,
            "status": self.status(),
            "judged_s": self.judged,
            "worst": self.worst,
            "last": self.last_value,
            "tripped_at_s": self.tripped_at,
            "trip_value": self.trip_value,
        }


@dataclass
class SeriesWindow:
    """Per-second values of one series; the mean over the last ``window_s`` seconds."""

    horizon_s: float
    points: deque[tuple[float, float]] = field(default_factory=deque)

    def push(self, at: float, value: float | None) -> None:
        if value is not None and not math.isnan(value):
            self.points.append((at, value))
        while self.points and self.points[0][0] <= at - self.horizon_s - 1:
            self.points.popleft()

    def value(self, now: float, window_s: float | None) -> float | None:
        """The latest value (no window), or the mean of the values in ``(now - window_s, now]``."""
        if not self.points:
            return None
        if window_s is None:
            at, latest = self.points[-1]
            return latest if at > now - 1.5 else None  # a stale value is no value
        inside = [v for t, v in self.points if t > now - window_s]
        return sum(inside) / len(inside) if inside else None


def replay(rule: Threshold, points: Iterable[tuple[float, float | None]]) -> RuleState:
    """Run ``rule`` over a recorded series of ``(run time s, value)`` as the live gate would have."""
    state = RuleState(rule, rule.endpoint)
    window = SeriesWindow(rule.window_s or 0.0)
    for at, value in points:
        window.push(at, value)
        state.update(at, window.value(at, rule.window_s))
    return state
