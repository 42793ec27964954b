"""The request budget: how much of a workspace's rate limit the suite lets itself use.

**headroom** is the share of the workspace's limit kept *free*, everywhere: the traffic model's rate
cap on a real host, the senders' shared limiter and the capacity plan all budget
``limit x (1 - headroom)``, with the one default declared here (0.1: 90 req/s of 100).
"""

from __future__ import annotations

from collections.abc import Callable

from plumbing.options import Option, check_parses

__all__ = ["HEADROOM", "rate_limit_option", "request_budget"]

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


def rate_limit_option(
    parse: Callable[[str], object], default: object, env: str, processes: tuple[str, ...]
) -> Option:
    """``--rate-limit``: the workspace's Track API limit, in the grammar every process shares.

    ``parse`` is ``cio_contract.parse_track_rate_limit`` (plumbing imports nothing of the suite); the
    value stays the text, checked here wherever it came from (Locust's web UI sets text too), and the
    process parses it once into its settings.
    """
    return Option(
        "--rate-limit",
        str(default),
        "the workspace's Track API rate limit: REQUESTS per second, or REQUESTS/SECONDS, with +BURST for "
        "the tight (spaced) form, as the sandbox's --rate-limit track=...",
        env=env,
        processes=processes,
        metavar="[track=]REQUESTS[/SECONDS][+BURST]",
        check=check_parses(parse),
    )
