"""The one rate-limit grammar of the suite: the sandbox, the senders, the traffic model and the plan."""

from __future__ import annotations

import pytest

from cio_contract import RateLimit, parse_rate_limit, parse_track_rate_limit


@pytest.mark.parametrize(
    ("text", "api", "limit"),
    [
        ("100", "track", RateLimit(100)),
        ("track=100", "track", RateLimit(100)),
        ("cdp=3000/3", "cdp", RateLimit(3000, 3.0)),
        ("app=10/1+5", "app", RateLimit(10, 1.0, 5)),
        ("track=1+0", "track", RateLimit(1, 1.0, 0)),
        (" 50/2 ", "track", RateLimit(50, 2.0)),
    ],
)
def test_specs_parse_and_print_back(text, api, limit):
    assert parse_rate_limit(text) == (api, limit)
    assert parse_rate_limit(str(limit)) == ("track", limit)  # str() is the spec without the API


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("email=5", "API one of track, app, cdp"),
        ("track=abc", "must be numbers"),
        ("0", "REQUESTS must be a whole number >= 1"),
        ("12.5", "25/2"),
        ("10/0", "SECONDS > 0"),
        ("10+-1", "BURST >= 0"),
    ],
)
def test_bad_specs_say_what_is_wrong(text, fragment):
    with pytest.raises(ValueError, match=None) as caught:
        parse_rate_limit(text)
    assert fragment in str(caught.value)


def test_a_track_limit_refuses_another_api():
    assert parse_track_rate_limit("track=3000/3").per_second == 1000
    with pytest.raises(ValueError, match="Track API's limit"):
        parse_track_rate_limit("cdp=3000/3")


def test_every_process_declares_the_same_default_limit():
    from deploy.capacity import OPTIONS as capacity
    from locustfiles.options import OPTIONS as traffic
    from pipeline.options import SENDER

    defaults = {table["rate_limit"].default for table in (capacity, traffic, SENDER)}
    assert defaults == {"100"}
