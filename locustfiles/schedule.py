"""Load schedules as pure functions of elapsed time: ``f(settings, t) -> (users, spawn_rate) | None``.

Kept apart from Locust's ``LoadTestShape`` classes so every sequence can be tested by calling a
function, and so the master's shape and the workers' pacing derive the same numbers from options.
``None`` means the run is over. The rate-limit probe also needs what it observed, kept in
:class:`ProbeState`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from locustfiles.options import Settings, Stage

__all__ = [
    "SCHEDULES",
    "ProbeState",
    "ProbeStep",
    "Tick",
    "arrival",
    "arrival_per_user_rate",
    "arrival_users",
    "constant",
    "probe_rate",
    "probe_users",
    "soak",
    "spike",
    "stages",
    "step",
]

Tick = tuple[int, float] | None


def _cap(s: Settings, users: int) -> int:
    limit = s.max_users
    return users if limit is None else min(users, limit)


def constant(s: Settings, t: float) -> Tick:
    """``--shape none``: Locust's own -u/-r/-t, so plain runs behave as without a shape."""
    if s.run_time and t >= s.run_time:
        return None
    return _cap(s, s.num_users or 1), s.locust_spawn_rate or s.spawn_rate


def stages_users(stage_list: tuple[Stage, ...], t: float) -> int | None:
    """Users at ``t`` when ramping linearly through ``stage_list`` from 0 (k6 semantics)."""
    start, previous = 0.0, 0
    for st in stage_list:
        if t < start + st.duration:
            progress = (t - start) / st.duration
            return round(previous + (st.target - previous) * progress)
        start, previous = start + st.duration, st.target
    return None


def stages(s: Settings, t: float) -> Tick:
    users = stages_users(s.stages, t)
    if users is None:
        return None
    # Fast enough to follow the steepest stage; at least 1 user/s so a flat stage still settles.
    steepest = max((abs(b.target - a) / b.duration for a, b in _pairs(s.stages) if b.duration), default=1)
    return _cap(s, users), max(1.0, math.ceil(steepest))


def _pairs(stage_list: tuple[Stage, ...]) -> list[tuple[int, Stage]]:
    previous = [0, *(st.target for st in stage_list[:-1])]
    return list(zip(previous, stage_list, strict=True))


def step(s: Settings, t: float) -> Tick:
    """``--shape-steps`` equal steps up to ``--shape-users`` across ``--shape-duration``."""
    if t >= s.duration:
        return None
    step_time = s.duration / s.steps
    per_step = math.ceil(s.users / s.steps)
    users = min(s.users, per_step * (int(t // step_time) + 1))
    return _cap(s, users), max(s.spawn_rate, float(per_step))


def spike(s: Settings, t: float) -> Tick:
    """Base users, a jump to peak at ``--spike-at`` for ``--spike-length``, then base again."""
    if t >= s.duration:
        return None
    in_spike = s.spike_at <= t < s.spike_at + s.spike_length
    users = s.users if in_spike else s.base_users
    # The spike arrives within a second, as a real one would.
    return _cap(s, users), float(max(1, s.users))


def soak(s: Settings, t: float) -> Tick:
    """Ramp to ``--shape-users`` over ``--shape-ramp`` and hold until ``--shape-duration``."""
    if t >= s.duration:
        return None
    rate = s.users / s.ramp if s.ramp else float(s.users)
    return _cap(s, s.users), max(1.0, rate)


def arrival_users(s: Settings) -> int:
    """Users needed to hold ``--target-rate`` when each paces itself to at most ``--user-rate``."""
    return max(1, math.ceil(s.capped_rate(s.target_rate) / s.user_rate))


def arrival_per_user_rate(s: Settings) -> float:
    """Each user's pace in the arrival shape, so ``users x pace`` is exactly the target rate."""
    return s.capped_rate(s.target_rate) / arrival_users(s)


def arrival(s: Settings, t: float) -> Tick:
    """Hold ``--target-rate`` req/s (open-model pacing): users ramp in, each paced to a fixed rate."""
    if t >= s.duration:
        return None
    users = arrival_users(s)
    if s.ramp and t < s.ramp:
        return max(1, math.ceil(users * (t + 1) / s.ramp)), max(1.0, users / s.ramp)
    return users, max(1.0, users / s.ramp if s.ramp else float(users))


def probe_rate(s: Settings, step_index: int) -> float:
    return s.capped_rate(s.target_rate + step_index * s.probe_step_rate)


def probe_users(s: Settings, step_index: int) -> int:
    return max(1, math.ceil(probe_rate(s, step_index) / s.user_rate))


@dataclass
class ProbeStep:
    """What one probe step asked for and what the target did during it."""

    index: int
    rate: float
    users: int
    requests: int = 0
    rate_limited: int = 0
    p95_ms: float = 0.0
    seconds: float = 0.0
    held: bool = False

    @property
    def measured_rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class ProbeState:
    """The probe's memory: finished steps and the counters at the start of the current one."""

    steps: list[ProbeStep] = field(default_factory=list)
    started_at: float = 0.0
    requests_at_start: int = 0
    limited_at_start: int = 0
    times_at_start: dict[int, int] = field(default_factory=dict)
    stopped_reason: str = ""

    @property
    def highest_held(self) -> ProbeStep | None:
        held = [st for st in self.steps if st.held]
        return held[-1] if held else None

    def summary(self) -> str:
        best = self.highest_held
        if best is None:
            first = f"{self.steps[0].rate:g} req/s" if self.steps else "the first step"
            return f"rate-limit probe: no step held (not even {first}); {self.stopped_reason}"
        return (
            f"rate-limit probe: highest rate that held {best.rate:g} req/s "
            f"(measured {best.measured_rate:.1f} req/s, p95 {best.p95_ms:.0f} ms, {best.rate_limited} x 429); "
            f"{self.stopped_reason}"
        )


Observation = Callable[[], tuple[int, int, dict[int, int]]]
"""Returns ``(total requests, total 429s, response-time histogram {ms: count})`` so far, as the
master sees them; the probe diffs two observations to judge one step."""


def percentile(histogram: dict[int, int], share: float) -> float:
    """The ``share`` percentile (0.95 = p95) of a ``{ms: count}`` histogram; 0 when empty."""
    total = sum(histogram.values())
    if not total:
        return 0.0
    wanted, seen = share * total, 0
    for ms in sorted(histogram):
        seen += histogram[ms]
        if seen >= wanted:
            return float(ms)
    return float(max(histogram))


def probe(s: Settings, t: float, state: ProbeState, observe: Observation) -> Tick:
    """Raise the rate step by step until 429s or latency exceed their thresholds; ``None`` then."""
    index = int(t // s.probe_step_time)
    if state.steps and (index > state.steps[-1].index or t >= s.duration):
        _close_step(s, t, state, observe)
        if state.stopped_reason:
            return None
    if t >= s.duration:
        state.stopped_reason = state.stopped_reason or "probe duration reached"
        return None
    if not state.steps or state.steps[-1].index != index:
        requests, limited, times = observe()
        state.started_at, state.requests_at_start, state.limited_at_start = t, requests, limited
        state.times_at_start = dict(times)
        state.steps.append(ProbeStep(index, probe_rate(s, index), probe_users(s, index)))
    current = state.steps[-1]
    return current.users, max(s.spawn_rate, float(current.users))


def _close_step(s: Settings, t: float, state: ProbeState, observe: Observation) -> None:
    if not state.steps or state.steps[-1].seconds:
        return
    current = state.steps[-1]
    requests, limited, times = observe()
    step_times = {ms: n - state.times_at_start.get(ms, 0) for ms, n in times.items()}
    p95 = percentile(step_times, 0.95)
    current.requests = requests - state.requests_at_start
    current.rate_limited = limited - state.limited_at_start
    current.seconds, current.p95_ms = max(t - state.started_at, 1e-9), p95
    share = current.rate_limited / current.requests if current.requests else 0.0
    current.held = current.requests > 0 and share <= s.probe_max_429_share and p95 <= s.probe_latency_ms
    if not current.held:
        why = f"429 share {share:.1%}" if share > s.probe_max_429_share else f"p95 {p95:.0f} ms"
        state.stopped_reason = f"stopped at {current.rate:g} req/s ({why})"
        if not current.requests:
            state.stopped_reason = f"stopped at {current.rate:g} req/s (no requests completed)"
    elif s.rate_cap is not None and current.rate >= s.rate_cap:
        state.stopped_reason = f"reached the rate cap of {s.rate_cap:g} req/s"


SCHEDULES: dict[str, Callable[[Settings, float], Tick]] = {
    "none": constant,
    "stages": stages,
    "step": step,
    "spike": spike,
    "soak": soak,
    "arrival": arrival,
}
