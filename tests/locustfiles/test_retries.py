"""SDK-style retries against the real sandbox: a 429 with Retry-After is waited out, then retried."""

from __future__ import annotations

from locust.env import Environment

import time

import pytest

from locustfiles.users import IdentifyUser
from tests.locustfiles.conftest import parse_options
from tests.support.sandbox import running_sandbox, sandbox_stats


def recorded_user(url: str, *args: str) -> tuple[IdentifyUser, list[int]]:
    """A real IdentifyUser outside a runner, with every response status it sees recorded."""
    # The runner would set the class's host when spawning; a subclass keeps IdentifyUser untouched.
    user_class = type("RetryProbeUser", (IdentifyUser,), {"host": url})
    env = Environment(user_classes=[user_class], host=url, parsed_options=parse_options(*args))
    statuses: list[int] = []
    env.events.request.add_listener(lambda response, **_: statuses.append(response.status_code))
    user = user_class(env)
    user.on_start()
    return user, statuses


@pytest.mark.slow
def test_429_with_retry_after_is_honoured_then_retried(tmp_path):
    """Limit 1/s, Retry-After 1: the second call gets 429, waits ~1 s, and its retry succeeds."""
    with running_sandbox("--rate-limit", "track=1+0", "--retry-after", "1", log_dir=tmp_path) as sb:
        user, statuses = recorded_user(sb.url, "--retries", "2")
        user.do_identify()
        started = time.monotonic()
        user.do_identify()
        waited = time.monotonic() - started
        stats = sandbox_stats(sb.url)["totals"]
    assert statuses == [200, 429, 200]
    assert 0.9 <= waited < 5
    assert stats["rate_limited"] == 1 and stats["accepted"] == 2


@pytest.mark.slow
def test_without_retries_a_429_is_final(tmp_path):
    """--retries 0 (default): one attempt, the 429 stands as the request's outcome."""
    with running_sandbox("--rate-limit", "track=1+0", log_dir=tmp_path) as sb:
        user, statuses = recorded_user(sb.url)
        user.do_identify()
        user.do_identify()
    assert statuses == [200, 429]
