"""Error bodies in the shapes each Customer.io API documents (reference sections 1-5).

- Track v1: ``{"meta": {"error": "..."}}`` (identify, merge, ...) or ``{"meta": {"errors": [...]}}``
  where TRACK-2026 documents a list (events, devices, manual segments, forms).
- 401 on Track (v1 and v2) and App: always ``{"meta": {"error": "Unauthorized request"}}``, the one
  body observed from Customer.io (reference section 1; customerio-node reads ``meta.error`` first,
  the Go SDK only that). Pipelines keeps its own shape below: its SDK needs ``code``.
- Track v2: ``{"errors": [{"batch_index"?, "reason", "field", "message"}]}``.
- App API: ``{"meta": {"error": "..."}}`` (the Go SDK reads ``meta.error``).
- Pipelines: ``{"code": ..., "message": ...}``: the official Python SDK raises KeyError on any
  non-200 JSON body without ``code``, so every Pipelines error carries both keys (body UNCONFIRMED).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cio_contract.endpoints import Api
from cio_contract.validation import Violation

__all__ = [
    "UNAUTHORIZED_MESSAGE",
    "meta_error",
    "meta_errors",
    "meta_errors_endpoints",
    "v2_errors",
    "cdp_error",
    "error_body",
    "rate_limited_message",
]

UNAUTHORIZED_MESSAGE = "Unauthorized request"

# v1 endpoints whose 400 is documented as a list under meta.errors.
_META_ERRORS_ENDPOINTS = frozenset(
    {"track", "track_anonymous", "add_device", "delete_device", "add_to_segment", "remove_from_segment",
     "submit_form"}
)  # fmt: skip


def meta_errors_endpoints() -> frozenset[str]:
    """Track v1 endpoints whose 400 is a list under ``meta.errors`` (the rest use ``meta.error``)."""
    return _META_ERRORS_ENDPOINTS


def meta_error(message: str) -> dict[str, Any]:
    return {"meta": {"error": message}}


def meta_errors(messages: Iterable[str]) -> dict[str, Any]:
    return {"meta": {"errors": list(messages)}}


def v2_errors(violations: Iterable[tuple[int | None, Violation]]) -> dict[str, Any]:
    """``violations`` are ``(batch_index, violation)``; index None for request-level problems."""
    errors = []
    for index, v in violations:
        item: dict[str, Any] = {"reason": v.reason, "field": v.field, "message": v.message}
        if index is not None:
            item = {"batch_index": index, **item}
        errors.append(item)
    return {"errors": errors}


def cdp_error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


def rate_limited_message(api: Api, requests: int, per_seconds: float) -> str:
    if per_seconds == 1:
        return f"Your request is over the {requests}-per-second limit"
    return f"Your request is over the limit of {requests} requests per {per_seconds:g} seconds"


def error_body(api: Api, endpoint_name: str, code: str, messages: list[str]) -> dict[str, Any]:
    """The body for a non-validation error (auth, rate limit, fault, 404) in ``api``'s shape.

    ``code`` is a short machine word (``unauthorized``, ``rate_limited``, ``not_found``, ...).
    """
    if api is Api.CDP:
        return cdp_error(code, "; ".join(messages))
    if code == "unauthorized":
        return meta_error("; ".join(messages))
    if api is Api.TRACK and endpoint_name in ("v2_entity", "v2_batch"):
        return v2_errors((None, Violation(m, "", code)) for m in messages)
    if endpoint_name in _META_ERRORS_ENDPOINTS:
        return meta_errors(messages)
    return meta_error("; ".join(messages))
