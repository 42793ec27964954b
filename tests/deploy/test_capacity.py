"""Capacity planner: tiers from the scaling guide, arithmetic, limits from cio_contract, bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cio_contract import CLIENT_BATCH_BYTES, CLIENT_BATCH_OPERATIONS, DEFAULT_RATE_LIMITS
from deploy.capacity import format_plan, parse_count, plan


@pytest.mark.parametrize(
    ("per_day", "tier"),
    [
        (999_999, "direct"),
        (1_000_000, "queue-based"),
        (10_000_000, "queue-based"),
        (10_000_001, "distributed"),
    ],
)
def test_tier_boundaries(per_day: int, tier: str) -> None:
    """Direct under 1M/day, queue-based for 1-10M, distributed above 10M."""
    assert plan(per_day).tier == tier


def test_fifty_million_a_day_at_three_times_peak() -> None:
    """50M/day x3 peak against the default 100 req/s limit, 0.1 headroom kept free: figures and arithmetic."""
    result = plan(50_000_000, peak_factor=3)
    assert result.tier == "distributed"
    assert result.peak_per_s == pytest.approx(1736.1, abs=0.1)
    assert result.budget_rps == DEFAULT_RATE_LIMITS["track"].per_second * (1 - 0.1) == 90
    assert result.batch_size == 40  # ceil(1736.1 / 90) = 20 ops, doubled so a backlog drains
    assert result.peak_requests_per_s == pytest.approx(43.4, abs=0.1) and result.fits
    assert (result.sender_workers, result.partitions, result.locust_workers) == (2, 6, 3)
    text = format_plan(result)
    assert "ceil(1,736 / 90)" in text and "= 40 ops" in text and text.endswith("within 90 req/s.")


def test_rate_limit_and_headroom_change_the_plan() -> None:
    """A higher limit needs smaller batches; a given batch size is used as is."""
    assert plan(50_000_000, rate_limit=1000).batch_size < plan(50_000_000).batch_size
    assert plan(50_000_000, batch_size=100).batch_size == 100


def test_volume_beyond_any_batch_does_not_fit() -> None:
    """5B/day cannot fit 100 req/s even with full batches: the verdict says what to do instead."""
    result = plan(5e9)
    assert not result.fits
    assert "Does NOT fit" in format_plan(result) and "workspace" in format_plan(result)


@given(
    per_day=st.floats(min_value=1e3, max_value=1e9),
    peak=st.floats(min_value=1, max_value=10),
    event_bytes=st.integers(min_value=50, max_value=32 * 1024),
)
def test_batches_stay_within_the_documented_limits(per_day: float, peak: float, event_bytes: int) -> None:
    """Whatever the volume, a batch respects the op count and byte caps; fitting means under budget."""
    result = plan(per_day, peak_factor=peak, event_bytes=event_bytes)
    assert 1 <= result.batch_size <= CLIENT_BATCH_OPERATIONS
    assert result.batch_size * event_bytes <= max(CLIENT_BATCH_BYTES, event_bytes)
    if result.fits:
        assert result.peak_requests_per_s <= result.budget_rps
    assert result.partitions == 0 or result.partitions >= result.sender_workers


@pytest.mark.parametrize(
    ("text", "value"), [("50M", 50e6), ("2.5m", 2.5e6), ("750K", 750e3), ("1e7", 1e7), ("50_000_000", 50e6)]
)
def test_parse_count(text: str, value: float) -> None:
    """Counts accept K/M/B suffixes, exponents and underscores."""
    assert parse_count(text) == value


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy.capacity", *args], capture_output=True, text=True, timeout=30
    )


def test_cli_prints_plan_and_exit_codes() -> None:
    """The command prints the plan (exit 0), exit 1 when it cannot fit."""
    ok = _run("--events-per-day", "50M", "--peak-factor", "3", "--rate-limit", "100")
    assert ok.returncode == 0 and "distributed" in ok.stdout and "locust workers" in ok.stdout
    assert _run("--events-per-day", "5B").returncode == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--events-per-day", "lots"], "like 50M"),
        (["--events-per-day=-5M"], "like 50M"),
        (["--events-per-day", "5M", "--headroom", "1.5"], "--headroom must be below 1 (got 1.5)"),
        (["--events-per-day", "5M", "--peak-factor", "0.5"], "at least 1"),
        (["--events-per-day", "5M", "--batch-size", "5000"], "--batch-size must be between 1 and 1000"),
        ([], "--events-per-day"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args: list[str], needle: str) -> None:
    """Bad input: one line on stderr naming the problem, no traceback, exit 2."""
    result = _run(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and needle in result.stderr and "Traceback" not in result.stderr
