"""One headroom, one default: the capacity plan, the senders and the traffic model budget the same rate."""

from __future__ import annotations

import pytest

from plumbing.budget import HEADROOM, request_budget


def test_the_three_default_budgets_are_one(monkeypatch):
    from deploy.capacity import plan
    from locustfiles.options import settings_from
    from pipeline.cli import build_sender, values_for
    from tests.locustfiles.conftest import parse_options

    for name in ("PIPELINE_HEADROOM", "PIPELINE_RATE_LIMIT", "LOCUST_HEADROOM", "CAPACITY_HEADROOM"):
        monkeypatch.delenv(name, raising=False)
    capacity = plan(50_000_000).budget_rps
    argv = [
        "--bootstrap-servers",
        "127.0.0.1:9",
        "--target",
        "http://127.0.0.1:9",
        "--redis-url",
        "redis://h",
    ]
    senders = build_sender(values_for("sender", argv, {})).requests_per_second
    monkeypatch.setenv("CIO_SITE_ID", "site-1")
    monkeypatch.setenv("CIO_API_KEY", "key-1")
    cap = settings_from(parse_options("--allow-real-customerio"), host="https://track.customer.io").rate_cap
    assert capacity == senders == cap == pytest.approx(request_budget(100, HEADROOM.default)) == 90


def test_headroom_is_the_share_kept_free():
    assert request_budget(100, 0.25) == 75 and request_budget(100, 0) == 100
