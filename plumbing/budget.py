"""The request budget: how much of a workspace's rate limit the suite lets itself use.

**headroom** is the share of the workspace's limit kept *free*, everywhere: the traffic model's rate
cap on a real host, the senders' shared limiter and the capacity plan all budget
``limit x (1 - headroom)``, with the one default declared here (0.1: 90 req/s of 100).
"""

from __future__ import annotations

from plumbing.options import Option

__all__ = ["HEADROOM", "request_budget"]

HEADROOM = Option(
    "--headroom",
    0.1,
    "share of the workspace's rate limit kept free (0.1 = use at most 90%)",
    type=float,
    processes=("locust", "sender", "capacity"),
    low=0,
    high=1,
    high_open=True,
)
"""Each process registers it with its own variable: ``dataclasses.replace(HEADROOM, env=...)``."""


def request_budget(rate_limit: float, headroom: float) -> float:
    """Requests per second the suite may send to one workspace."""
    return rate_limit * (1.0 - headroom)
