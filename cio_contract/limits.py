"""Customer.io's documented field and size limits, and the rate limits the suite plans for.

Sources are in ``shared/reference/customerio-api.md`` (sections 2, 4, 5, 6). KB means 1024 bytes, as
in the official Pipelines SDK (``MAX_MSG_SIZE = 32 << 10``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "KB",
    "Limits",
    "RateLimit",
    "DEFAULT_LIMITS",
    "DEFAULT_RATE_LIMITS",
    "DOCUMENTED_TRACK_RATE_LIMIT",
    "CLIENT_BATCH_OPERATIONS",
    "CLIENT_BATCH_BYTES",
    "RATE_LIMIT_GRAMMAR",
    "parse_rate_limit",
    "parse_track_rate_limit",
]

KB = 1024


@dataclass(frozen=True)
class Limits:
    """Per-request limits. Frozen so one instance can be shared by every request handler."""

    identifier_bytes: int = 150
    attribute_name_bytes: int = 150
    attribute_value_bytes: int = 1000
    attributes_per_call: int = 300
    event_name_bytes: int = 100
    event_data_bytes: int = 100_000
    v2_entity_bytes: int = 32 * KB
    """``/api/v2/entity``: a request must be at most this size."""
    v2_operation_bytes: int = 32 * KB
    """Each operation inside ``/api/v2/batch``: at most this size."""
    v2_batch_bytes: int = 500 * KB
    """``/api/v2/batch``: a request must be *under* this size."""
    v2_batch_operations: int | None = None
    """Operations per v2 batch: not documented (UNCONFIRMED), so unlimited unless configured."""
    cdp_message_bytes: int = 32 * KB
    cdp_batch_bytes: int = 500 * KB
    """Pipelines batch: at most this size in total."""
    segment_ids_per_call: int = 1000
    """Manual segments: ``ids`` per add/remove call (TRACK-2026 ``maxItems``)."""
    transactional_recipients: int = 15
    transactional_attachments_bytes: int = 2 * KB * KB
    """Attachments in total must be *under* this size."""
    send_at_max_days: int = 90


DEFAULT_LIMITS = Limits()

# What a client should aim for: RudderStack caps Customer.io batches at 1000 operations, and the
# official CDP SDK flushes at 475,000 bytes, safely below the 500 KB limit whatever "KB" means there.
CLIENT_BATCH_OPERATIONS = 1000
CLIENT_BATCH_BYTES = 475_000


@dataclass(frozen=True)
class RateLimit:
    """``requests`` per ``per_seconds`` window.

    ``burst`` None (the default) means what a user reads in "N per second": at most ``requests`` in
    any window of ``per_seconds``, and nothing refused while a client stays under that, however it
    clumps. A number asks for the tight form instead: requests evenly spaced at the sustained rate,
    with ``burst`` extra allowed at once (0 = strict spacing).
    """

    requests: int
    per_seconds: float = 1.0
    burst: int | None = None

    def __str__(self) -> str:
        """The spec in :data:`RATE_LIMIT_GRAMMAR` (without the API): ``100``, ``3000/3``, ``50/1+5``."""
        per = "" if self.per_seconds == 1 else f"/{self.per_seconds:g}"
        burst = "" if self.burst is None else f"{'/1' if not per else ''}+{self.burst}"
        return f"{self.requests}{per}{burst}"

    @property
    def per_second(self) -> float:
        return self.requests / self.per_seconds

    @property
    def sliding(self) -> bool:
        """True for the any-window semantics (the default), False for the tight, spaced form."""
        return self.burst is None

    @property
    def effective_burst(self) -> int:
        """Requests allowed at once above the spacing: ``requests - 1`` for a sliding window."""
        return self.requests - 1 if self.burst is None else self.burst


# The scaling guide's planning figures (the sandbox default): Track 100/s, App 10/s, Pipelines 3000/3 s.
DEFAULT_RATE_LIMITS: dict[str, RateLimit] = {
    "track": RateLimit(100, 1.0),
    "app": RateLimit(10, 1.0),
    "cdp": RateLimit(3000, 3.0),
}

# Customer.io's 2026 docs: 1000 req/s, soft ("may throttle, drop data or block").
DOCUMENTED_TRACK_RATE_LIMIT = RateLimit(1000, 1.0)


RATE_LIMIT_GRAMMAR = "[API=]REQUESTS[/SECONDS][+BURST]"
"""The one way every process writes a rate limit (the sandbox, the senders, the traffic model, the
capacity plan): ``track=100``, ``100`` (API track), ``cdp=3000/3``, ``track=50/1+5`` (the tight form)."""


def parse_rate_limit(text: str) -> tuple[str, RateLimit]:
    """``(api, limit)`` from :data:`RATE_LIMIT_GRAMMAR`; the API is ``track`` when left out.

    Without ``+BURST``: at most REQUESTS in any SECONDS window (a sliding window). With it: the tight
    form, requests spaced at the sustained rate with BURST extra at once (``+0`` = strict spacing).
    ValueError says what is wrong, without the option's name (the caller adds it).
    """
    api, sep, spec = text.strip().rpartition("=")
    api = api.strip() if sep else "track"
    if api not in DEFAULT_RATE_LIMITS:
        raise ValueError(f"{text!r}: expected {RATE_LIMIT_GRAMMAR} with API one of track, app, cdp")
    spec, _, burst = spec.partition("+")
    requests, _, seconds = spec.partition("/")
    try:
        number = float(requests)
        limit = RateLimit(int(number), float(seconds or 1), int(burst) if burst else None)
    except ValueError:
        raise ValueError(
            f"{text!r}: REQUESTS, SECONDS and BURST must be numbers ({RATE_LIMIT_GRAMMAR})"
        ) from None
    if not number.is_integer() and number > 0:
        raise ValueError(f"{text!r}: REQUESTS must be a whole number; write e.g. 25/2 for 12.5 per second")
    if limit.requests < 1 or not limit.per_seconds > 0 or limit.effective_burst < 0:
        raise ValueError(f"{text!r}: REQUESTS must be a whole number >= 1, SECONDS > 0, BURST >= 0")
    return api, limit


def parse_track_rate_limit(text: str) -> RateLimit:
    """A Track API limit in :data:`RATE_LIMIT_GRAMMAR` (``100``, ``track=100``, ``track=3000/3``)."""
    api, limit = parse_rate_limit(text)
    if api != "track":
        raise ValueError(
            f"{text!r}: this is the Track API's limit; give track=REQUESTS[/SECONDS] or REQUESTS"
        )
    return limit
