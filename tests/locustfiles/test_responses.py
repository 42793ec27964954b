"""Failure kinds (the analysis reads them), SDK-style backoff, and the open-model pacer."""

from __future__ import annotations

import random

import pytest

from locustfiles.responses import backoff_seconds, failure_kind, retry_after_seconds
from locustfiles.users import Pacer


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (200, None, None),
        (207, None, None),
        (429, None, "rate limited (429)"),
        (500, None, "server error (5xx): 500"),
        (503, None, "server error (5xx): 503"),
        (400, None, "client error (4xx): 400"),
        (401, None, "client error (4xx): 401"),
        (0, TimeoutError("timed out"), "timeout"),
        (0, TimeoutError(), "timeout"),
        (0, ConnectionRefusedError(111, "Connection refused"), "connection error"),
        (0, None, "connection error"),
    ],
)
def test_failure_kinds_are_the_shared_messages(status, error, kind):
    """Exactly the brief's failure strings, 2xx is success."""
    assert failure_kind(status, error) == kind


def test_gevent_timeout_is_a_timeout():
    """FastHttpUser's network timeout (a gevent Timeout) counts as a timeout."""
    import gevent

    assert failure_kind(0, gevent.Timeout(1)) == "timeout"


def test_backoff_doubles_with_jitter_and_cap():
    """200 ms x 2^(n-1) x [1, 2), capped; Retry-After wins when present."""
    rng = random.Random(1)
    for attempt, low in ((1, 0.2), (2, 0.4), (3, 0.8)):
        value = backoff_seconds(attempt, rng, cap=5.0)
        assert low <= value < 2 * low
    assert backoff_seconds(10, rng, cap=5.0) == 5.0
    assert backoff_seconds(1, rng, cap=5.0, retry_after=2.0) == 2.0


def test_retry_after_header():
    """Numeric Retry-After is read (bounded to 300 s); junk is ignored."""
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"Retry-After": "9999"}) == 300.0
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}) is None
    assert retry_after_seconds(None) is None


def test_pacer_holds_rate_and_catches_up_without_bursting():
    """Task starts are 1/rate apart; a slow task is made up, a long stall is not burst back."""
    now = [100.0]
    pacer = Pacer(4.0, clock=lambda: now[0])
    assert pacer.wait() == pytest.approx(0.25)
    now[0] += 0.25 + 0.4  # the next task took 0.4 s: 0.15 s behind schedule
    assert pacer.wait() == 0.0  # so the following task starts at once
    assert pacer.wait() == pytest.approx(0.1)  # and the one after is back on the 0.25 s grid
    now[0] += 0.1 + 5.0  # stalled for 5 s
    assert pacer.wait() == 0.0
    assert pacer.wait() == pytest.approx(0.25)  # starts afresh, no backlog of 20 requests
