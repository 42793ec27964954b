"""The Customer.io API contract shared by the traffic model, the sandbox and the pipeline.

Endpoints, limits, validation and error bodies, taken from ``shared/reference/customerio-api.md``.
It depends on nothing else in this project, so each of the three can use it without the others.
"""

from cio_contract.dispatch import validate_v1
from cio_contract.endpoints import ENDPOINTS, Api, Endpoint, Router, endpoint
from cio_contract.errors import (
    UNAUTHORIZED_MESSAGE,
    cdp_error,
    error_body,
    meta_error,
    meta_errors,
    rate_limited_message,
    v2_errors,
)
from cio_contract.limits import (
    CLIENT_BATCH_BYTES,
    CLIENT_BATCH_OPERATIONS,
    DEFAULT_LIMITS,
    DEFAULT_RATE_LIMITS,
    DOCUMENTED_TRACK_RATE_LIMIT,
    KB,
    RATE_LIMIT_GRAMMAR,
    Limits,
    RateLimit,
    parse_rate_limit,
    parse_track_rate_limit,
)
from cio_contract.regions import APP_HOSTS, CDP_HOSTS, TRACK_HOSTS, is_customerio_host
from cio_contract.validation import (
    V2BatchResult,
    Violation,
    json_size,
    validate_attributes,
    validate_cdp_batch,
    validate_cdp_message,
    validate_device,
    validate_event,
    validate_identifier,
    validate_identify,
    validate_merge,
    validate_transactional,
    validate_v2_batch,
    validate_v2_operation,
)

__all__ = [
    "APP_HOSTS", "CDP_HOSTS", "CLIENT_BATCH_BYTES", "CLIENT_BATCH_OPERATIONS", "DEFAULT_LIMITS",
    "DEFAULT_RATE_LIMITS", "DOCUMENTED_TRACK_RATE_LIMIT", "ENDPOINTS", "KB", "RATE_LIMIT_GRAMMAR", "TRACK_HOSTS",
    "UNAUTHORIZED_MESSAGE", "Api", "Endpoint", "Limits", "RateLimit", "Router", "V2BatchResult",
    "Violation", "cdp_error", "endpoint", "error_body", "is_customerio_host", "json_size",
    "meta_error", "meta_errors", "parse_rate_limit", "parse_track_rate_limit", "rate_limited_message", "v2_errors", "validate_attributes",
    "validate_cdp_batch", "validate_cdp_message", "validate_device", "validate_event",
    "validate_identifier", "validate_identify", "validate_merge", "validate_transactional",
    "validate_v1", "validate_v2_batch", "validate_v2_operation",
]  # fmt: skip
