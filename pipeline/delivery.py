"""What a target's answer means for each event in the request, and how long to wait before a retry.

Pure functions, so the rules are tested without a server: 2xx delivers all, 207 dead-letters only
the operations it names (or retries them when the reason is transient), 400/413 dead-letter or split,
429/408/5xx/timeouts retry with exponential backoff and full jitter, honouring ``Retry-After``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.batching import Item

__all__ = ["Verdict", "backoff", "classify", "RETRY_STATUSES"]

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 522, 524})
# Credentials or routing problems: the data is fine, the setup is not; keep it and keep trying.
_HOLD_STATUSES = frozenset({401, 403})
_TRANSIENT_REASONS = frozenset({"rate_limited", "internal", "internal_error", "timeout", "unavailable"})
_MAX_RETRY_AFTER = 300.0


@dataclass
class Verdict:
    delivered: list[Item] = field(default_factory=list)
    dead: list[tuple[Item, str, str]] = field(default_factory=list)
    """``(item, reason, message)`` for the dead-letter topic."""
    retry: list[Item] = field(default_factory=list)
    retry_after: float | None = None
    split: bool = False


def classify(status: int | None, body: bytes, headers: dict[str, str], items: list[Item]) -> Verdict:
    """``status`` None means no answer (timeout or connection error)."""
    if status is None or status in RETRY_STATUSES or status in _HOLD_STATUSES or status >= 500:
        return Verdict(retry=list(items), retry_after=_retry_after(headers))
    if 200 <= status < 300 and status != 207:
        return Verdict(delivered=list(items))
    errors = _errors(body)
    if status == 207:
        return _partial(errors, items)
    if status in (400, 413, 422):
        indexed = {e["batch_index"]: e for e in errors if isinstance(e.get("batch_index"), int)}
        if indexed:
            verdict = _partial(errors, items)
            # A 400 rejects the whole request: the operations it did not name were not stored either.
            return Verdict(dead=verdict.dead, retry=[*verdict.retry, *verdict.delivered])
        if len(items) > 1:
            return Verdict(split=True)
        reason = (
            "too_large" if status == 413 else (errors[0].get("reason", "invalid") if errors else "invalid")
        )
        return Verdict(dead=[(items[0], str(reason), _message(errors, body))])
    return Verdict(dead=[(i, f"http_{status}", _message(errors, body)) for i in items])


def _partial(errors: list[dict[str, Any]], items: list[Item]) -> Verdict:
    verdict = Verdict()
    failed: dict[int, dict[str, Any]] = {}
    for error in errors:
        index = error.get("batch_index")
        if isinstance(index, int) and 0 <= index < len(items):
            failed.setdefault(index, error)
    for index, item in enumerate(items):
        problem = failed.get(index)
        if problem is None:
            verdict.delivered.append(item)
        elif problem.get("reason") in _TRANSIENT_REASONS:
            verdict.retry.append(item)
        else:
            verdict.dead.append(
                (item, str(problem.get("reason") or "invalid"), str(problem.get("message", "")))
            )
    return verdict


def _errors(body: bytes) -> list[dict[str, Any]]:
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return []
    if not isinstance(data, dict):
        return []
    errors = data.get("errors")
    if isinstance(errors, list):
        return [e for e in errors if isinstance(e, dict)]
    meta = data.get("meta")
    if isinstance(meta, dict):
        messages = meta.get("errors") or [meta.get("error")]
        return [{"reason": "invalid", "message": str(m)} for m in messages if m]
    return []


def _message(errors: list[dict[str, Any]], body: bytes) -> str:
    if errors:
        return "; ".join(str(e.get("message", "")) for e in errors)
    return body[:300].decode(errors="replace")


def _retry_after(headers: dict[str, str]) -> float | None:
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER)
    except ValueError:
        return None  # an HTTP date: rare for APIs; fall back to our own backoff


def backoff(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Exponential backoff with "equal jitter" (half fixed, half random); never below ``Retry-After``."""
    ceiling = min(cap, base * 2**attempt)
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, retry_after + random.uniform(0, base))
    return delay
