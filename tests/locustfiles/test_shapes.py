"""Every load shape's tick() sequence, with the run time patched (no Locust run needed)."""

from __future__ import annotations

import math

import pytest

from locustfiles.schedule import ProbeState, probe
from locustfiles.shapes import (
    ArrivalRateShape,
    OptionShape,
    RateLimitProbeShape,
    StagesShape,
    observe_runner,
)
from tests.locustfiles.conftest import shape_at


def ticks(shape: OptionShape, times: list[float], monkeypatch: pytest.MonkeyPatch) -> list[object]:
    return [shape_at(shape, t, monkeypatch) for t in times]


def users(seq: list[object]) -> list[int | None]:
    return [None if tick is None else tick[0] for tick in seq]  # type: ignore[index]


def test_none_shape_uses_locusts_own_users_and_run_time(make_shape, monkeypatch):
    """--shape none behaves like a run without a shape: -u users until -t."""
    shape = make_shape(OptionShape, "--shape", "none", "-u", "7", "-r", "3", "-t", "30s")
    assert ticks(shape, [0, 29.9, 30], monkeypatch) == [(7, 3.0), (7, 3.0), None]


def test_stages_ramp_linearly_like_k6(make_shape, monkeypatch):
    """Stages move linearly from the previous target and end after the last one."""
    shape = make_shape(OptionShape, "--shape", "stages", "--stages", "10s:10,20s:20,10s:0")
    seq = ticks(shape, [0, 5, 10, 20, 30, 35, 39.9, 40], monkeypatch)
    assert users(seq) == [0, 5, 10, 15, 20, 10, 0, None]
    # Spawn rate follows the steepest stage (20 users in 10 s).
    assert {tick[1] for tick in seq if tick} == {2.0}


def test_stages_from_yaml_file(make_shape, monkeypatch, tmp_path):
    """A k6-style stages file gives the same sequence as the command line."""
    path = tmp_path / "stages.yaml"
    path.write_text("stages:\n  - {duration: 10s, target: 10}\n  - {duration: 1m, target: 10}\n")
    shape = make_shape(StagesShape, "--stages", str(path))
    assert users(ticks(shape, [5, 10, 69, 70], monkeypatch)) == [5, 10, 10, None]


def test_step_shape_climbs_in_equal_steps(make_shape, monkeypatch):
    """Four steps of five users, ten seconds each, then the end."""
    shape = make_shape(OptionShape, "--shape", "step", "--shape-users", "20", "--shape-steps", "4",
                       "--shape-duration", "40s")  # fmt: skip
    assert users(ticks(shape, [0, 9, 10, 25, 39, 40], monkeypatch)) == [5, 5, 10, 15, 20, None]


def test_spike_shape_jumps_and_returns(make_shape, monkeypatch):
    """Base load, the spike at once at --spike-at for --spike-length, base load again."""
    shape = make_shape(OptionShape, "--shape", "spike", "--shape-base-users", "5", "--shape-users", "60",
                       "--spike-at", "20s", "--spike-length", "10s", "--shape-duration", "1m")  # fmt: skip
    seq = ticks(shape, [0, 19, 20, 29, 30, 59, 60], monkeypatch)
    assert users(seq) == [5, 5, 60, 60, 5, 5, None]
    assert seq[2][1] >= 60  # type: ignore[index]


def test_soak_shape_holds_then_ends(make_shape, monkeypatch):
    """Soak: the same users from start to --shape-duration, spawned over --shape-ramp."""
    shape = make_shape(OptionShape, "--shape", "soak", "--shape-users", "20", "--shape-ramp", "10s",
                       "--shape-duration", "10m")  # fmt: skip
    assert ticks(shape, [0, 300, 599, 600], monkeypatch) == [(20, 2.0), (20, 2.0), (20, 2.0), None]


def test_arrival_shape_users_times_pace_is_the_target(make_shape, settings, monkeypatch):
    """45 req/s at <= 2 req/s per user: 23 users, each paced to 45/23 req/s, ramped in."""
    shape = make_shape(ArrivalRateShape, "--target-rate", "45", "--user-rate", "2", "--shape-ramp", "10s",
                       "--shape-duration", "30s")  # fmt: skip
    seq = users(ticks(shape, [0, 4, 9, 10, 29, 30], monkeypatch))
    assert seq == [3, 12, 23, 23, 23, None]
    # The class-picker shape tells the workers (via parsed options) to pace for the arrival shape.
    assert shape.runner.environment.parsed_options.shape == "arrival"
    from locustfiles.schedule import arrival_per_user_rate, arrival_users

    s = settings("--shape", "arrival", "--target-rate", "45", "--user-rate", "2")
    assert arrival_users(s) * arrival_per_user_rate(s) == pytest.approx(45)


def test_real_host_caps_rate_below_workspace_limit(make_shape, monkeypatch):
    """On a real host the arrival target and user counts are capped at limit x (1 - headroom)."""
    real = "https://track.customer.io"
    env = {"CIO_SITE_ID": "site-x", "CIO_API_KEY": "key-x"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = ("--allow-real-customerio", "--rate-limit", "100", "--headroom", "0.2", "--user-rate", "2")
    arrival = make_shape(ArrivalRateShape, *args, "--target-rate", "500", "--shape-ramp", "0", host=real)
    assert shape_at(arrival, 5, monkeypatch)[0] == 40  # 80 req/s / 2 per user
    step = make_shape(OptionShape, *args, "--shape", "step", "--shape-users", "1000", host=real)
    assert shape_at(step, 59, monkeypatch)[0] == 40


class FakeTarget:
    """Answers like a server limited to ``limit`` req/s: anything above is a 429."""

    def __init__(self, limit: float):
        self.limit = limit
        self.requests = self.limited = 0

    def advance(self, rate: float, seconds: float) -> None:
        self.requests += int(rate * seconds)
        self.limited += int(max(0.0, rate - self.limit) * seconds)

    def observe(self) -> tuple[int, int, dict[int, int]]:
        return self.requests, self.limited, {20: self.requests}


def test_probe_raises_rate_until_429s_and_reports_highest_held(settings):
    """Steps of +20 req/s from 40: 40..100 hold against a 100 req/s limit, 120 does not."""
    s = settings("--shape", "probe", "--target-rate", "40", "--probe-step-rate", "20", "--probe-step-time",
                 "10s", "--user-rate", "2", "--shape-duration", "5m")  # fmt: skip
    target, state, seen = FakeTarget(100), ProbeState(), []
    t = 0.0
    while (tick := probe(s, t, state, target.observe)) is not None:
        seen.append(tick[0])
        target.advance(tick[0] * s.user_rate, 1.0)
        t += 1.0
    assert [st.rate for st in state.steps] == [40, 60, 80, 100, 120]
    assert sorted(set(seen)) == [20, 30, 40, 50, 60]
    assert state.highest_held is not None and state.highest_held.rate == 100
    assert not state.steps[-1].held and "429 share" in state.stopped_reason
    assert "highest rate that held 100 req/s" in state.summary()


def test_probe_stops_on_latency_and_at_its_duration(settings):
    """High p95 ends the probe; a target that never fails ends at --shape-duration."""
    s = settings("--shape", "probe", "--target-rate", "10", "--probe-step-time", "5s", "--probe-latency-ms",
                 "100", "--shape-duration", "30s")  # fmt: skip
    slow = ProbeState()
    assert probe(s, 0, slow, lambda: (0, 0, {})) is not None
    assert probe(s, 5, slow, lambda: (50, 0, {500: 50})) is None
    assert "p95 500 ms" in slow.stopped_reason and slow.highest_held is None
    fine, t, target = ProbeState(), 0.0, FakeTarget(limit=1e9)
    while probe(s, t, fine, target.observe) is not None:
        target.advance(10, 1.0)
        t += 1
    assert t == 30 and all(st.held for st in fine.steps) and fine.stopped_reason == "probe duration reached"


def test_probe_shape_class_reads_the_runners_stats(make_shape, monkeypatch):
    """RateLimitProbeShape counts 429 failures from Locust's stats on the master."""
    from locust.stats import RequestStats

    shape = make_shape(RateLimitProbeShape, "--target-rate", "10", "--probe-step-time", "5s")
    stats = RequestStats()
    shape.runner.stats = stats  # type: ignore[attr-defined]
    stats.log_request("PUT", "/api/v1/customers/[id]", 5, 0)
    stats.log_error("PUT", "/api/v1/customers/[id]", "CatchResponseError('rate limited (429)')")
    assert observe_runner(shape.runner) == (1, 1, {5: 1})
    assert shape_at(shape, 0, monkeypatch) == (5, 10.0)
    assert shape.shape_name == "probe" and math.isclose(shape.settings.target_rate, 10)
