"""Which checks apply to which Track v1 endpoint: the one dispatch the sandbox and the ingest share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cio_contract.limits import DEFAULT_LIMITS, Limits
from cio_contract.validation import (
    Violation,
    validate_device,
    validate_event,
    validate_form,
    validate_identifier,
    validate_identify,
    validate_merge,
    validate_metric,
    validate_push_metric,
    validate_segment_ids,
    validate_unsubscribe,
)

__all__ = ["validate_v1"]


def validate_v1(
    name: str, params: Mapping[str, str], body: Any, limits: Limits = DEFAULT_LIMITS
) -> list[Violation]:
    """Violations of one Track v1 call: ``name`` is the endpoint's name, ``params`` its path parameters.

    Endpoints without a body check (delete, suppress, ...) still get their path identifier checked.
    """
    if name == "identify":
        return validate_identify(params["id"], body, limits)
    if name == "merge_customers":
        return validate_merge(body)
    if name in ("add_to_segment", "remove_from_segment"):
        return validate_segment_ids(params.get("segment_id"), body, limits)
    if name == "submit_form":
        return validate_form(params.get("form_id"), body, limits)
    if name == "push_metrics":
        return validate_push_metric(body)
    if name == "metrics":
        return validate_metric(body)
    if name == "unsubscribe":
        return validate_unsubscribe(params.get("delivery_id"), body)
    problem = validate_identifier(params.get("id"), limits) if "id" in params else None
    if problem:
        return [problem]
    if name == "delete_device" and not params.get("device_id"):
        return [Violation("device id must be present")]
    if name in ("track", "track_anonymous"):
        return validate_event(body, limits, anonymous=name == "track_anonymous")
    if name == "add_device":
        return validate_device(body)
    return []
