"""How a response is judged (the failure kinds the analysis classifies by) and SDK-style backoff.

The failure messages are a shared interface: ``rate limited (429)``, ``server error (5xx): <status>``,
``timeout``, ``connection error``, ``client error (4xx): <status>``. Backoff follows customerio-node
5.0: 200 ms base doubling per attempt, jitter x[1, 2), a cap per sleep, ``Retry-After`` honoured.
"""

from __future__ import annotations

import random
import socket
from typing import Any

from plumbing.failures import CONNECTION_ERROR, RATE_LIMITED, TIMEOUT, client_error, server_error

__all__ = ["RATE_LIMITED", "RETRY_STATUSES", "backoff_seconds", "failure_kind", "retry_after_seconds"]

# customerio-node retries exactly these (lib/request.ts); 0 stands for a transport error.
RETRY_STATUSES = frozenset({0, 408, 429, 500, 502, 503, 504, 522, 524})
_BASE_SECONDS = 0.2
_RETRY_AFTER_MAX = 300.0


def failure_kind(status: int, error: BaseException | None = None) -> str | None:
    """The failure message for a response, or None when it succeeded (any 2xx)."""
    if 200 <= status < 300:
        return None
    if status == 429:
        return RATE_LIMITED
    if status >= 500:
        return server_error(status)
    if status == 0:
        return TIMEOUT if _is_timeout(error) else CONNECTION_ERROR
    return client_error(status)


def _is_timeout(error: BaseException | None) -> bool:
    if error is None:
        return False
    if isinstance(error, TimeoutError | socket.timeout):
        return True
    # gevent's Timeout is not an OSError; match it by name so this module does not import gevent.
    return type(error).__name__ == "Timeout" or "timed out" in str(error).lower()


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from a numeric ``Retry-After`` header (HTTP dates are not used by Customer.io)."""
    if not headers:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return min(_RETRY_AFTER_MAX, max(0.0, float(value))) if value is not None else None
    except ValueError:
        return None


def backoff_seconds(attempt: int, rng: random.Random, cap: float, retry_after: float | None = None) -> float:
    """Sleep before retry number ``attempt`` (1-based), as customerio-node computes it."""
    if retry_after is not None:
        # The server's word wins over our own cap, as in the SDK (already bounded to 300 s).
        return retry_after
    return min(cap, _BASE_SECONDS * 2 ** (attempt - 1) * (1 + rng.random()))
