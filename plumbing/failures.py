"""The traffic model's failure messages and the one classifier that sorts them into kinds.

The messages are a shared interface: the traffic model writes them (``locustfiles.responses``),
Locust stores them in ``_failures.csv``, and the analysis and ``python -m runs`` classify them here.
"""

from __future__ import annotations

import re

__all__ = [
    "CONNECTION_ERROR",
    "ERROR_KINDS",
    "RATE_LIMITED",
    "TIMEOUT",
    "classify_error",
    "client_error",
    "server_error",
]

RATE_LIMITED = "rate limited (429)"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection error"


def server_error(status: int) -> str:
    return f"server error (5xx): {status}"


def client_error(status: int) -> str:
    return f"client error (4xx): {status}"


ERROR_KINDS = ["429", "5xx", "timeout", "connection", "4xx", "other"]
"""Every kind :func:`classify_error` returns, in report order."""

# Order matters: "connect timeout" is a timeout, "HTTPError('429 Client Error')" is a 429 not a 4xx.
_KIND_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("429", re.compile(r"\b429\b|rate.?limit|too many requests", re.I)),
    ("5xx", re.compile(r"\b5\d\d\b|server error", re.I)),
    ("timeout", re.compile(r"time.?out|timed out", re.I)),
    (
        "connection",
        re.compile(r"connect|refused|reset by peer|remotedisconnected|broken pipe|name or service", re.I),
    ),
    ("4xx", re.compile(r"\b4\d\d\b|client error", re.I)),
]


def classify_error(message: str) -> str:
    """Map a Locust failure message to one of :data:`ERROR_KINDS`.

    Understands the traffic model's ``catch_response`` messages (``rate limited (429)``,
    ``server error (5xx): 503``, ``timeout``, ``connection error``, ``client error (4xx): 400``)
    as well as Locust's own ``HTTPError``/``ConnectionRefusedError`` reprs.
    """
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(message):
            return kind
    return "other"
