"""Validation of request bodies exactly per Customer.io's documented limits (reference section 6).

Every function returns the list of violations it found (empty = valid) and never raises on odd
input: the sandbox feeds it whatever a client sent. Messages are the ones Customer.io documents on
its "Invalid API Requests" page where one exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from cio_contract.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "Violation",
    "V2BatchResult",
    "json_size",
    "validate_identifier",
    "validate_attributes",
    "validate_identify",
    "validate_event",
    "validate_device",
    "validate_merge",
    "validate_v2_operation",
    "validate_v2_batch",
    "validate_cdp_message",
    "validate_cdp_batch",
    "validate_transactional",
    "validate_segment_ids",
    "validate_form",
    "validate_push_metric",
    "validate_metric",
    "validate_unsubscribe",
    "METRICS",
    "PUSH_METRICS",
    "PERSON_ACTIONS",
    "OBJECT_ACTIONS",
]


@dataclass(frozen=True)
class Violation:
    message: str
    field: str = ""
    reason: str = "invalid"


# Identify keys that steer the call rather than set an attribute, so they are not counted.
_CONTROL_KEYS = frozenset({"_timestamp", "_update", "cio_relationships", "cio_subscription_preferences"})
_EVENT_TYPES = frozenset({"event", "page", "screen"})
PERSON_ACTIONS = frozenset(
    {
        "identify", "delete", "event", "screen", "page", "add_relationships", "delete_relationships",
        "add_device", "delete_device", "merge", "suppress", "unsuppress",
    }
)  # fmt: skip
OBJECT_ACTIONS = frozenset(
    {"identify", "identify_anonymous", "delete", "add_relationships", "delete_relationships"}
)
_PERSON_IDENTIFIERS = ("id", "email", "phone", "cio_id")
_DELIVERY_EVENTS = frozenset({"opened", "converted", "delivered"})
_CDP_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
# POST /api/v1/metrics: the union of the per-channel enums in TRACK-2026 (email, SMS, push, ...).
METRICS = frozenset(
    {"bounced", "clicked", "converted", "deferred", "delivered", "dropped", "opened", "spammed"}
)
PUSH_METRICS = frozenset({"opened", "converted", "delivered"})
# Track times are int Unix seconds everywhere (reference sections 1 and 6): one rule for all of them.
_IDENTIFY_TIMES = ("created_at", "_timestamp")


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON: how the limits measure values and operations."""
    if isinstance(value, str):
        return len(value.encode()) + 2
    try:
        # orjson writes the same compact UTF-8 form as the stdlib call below, about 10x faster.
        return len(orjson.dumps(value))
    except TypeError:  # what orjson refuses (non-str keys, ints over 64 bits), the stdlib measures
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _is_one_of(value: Any, choices: frozenset[str]) -> bool:
    # A list or dict where a word belongs must be a violation, not a TypeError from hashing it.
    return isinstance(value, str) and value in choices


def _utf8_len(text: str) -> int:
    # A str of n code points is at most 4n bytes; skip the encode when it cannot be over.
    return len(text) if len(text) * 4 <= 1_000_000 and text.isascii() else len(text.encode())


def _value_bytes(value: Any) -> int:
    if isinstance(value, str):
        return _utf8_len(value)
    if isinstance(value, bool) or value is None or isinstance(value, int | float):
        return len(str(value))
    return json_size(value)


def _whole_number(value: Any) -> bool:
    """A 64-bit integer as JSON Schema means it: ``5`` or ``5.0``, never ``true``. Bounded, because a
    JSON parser turns larger integers into floats that no longer hold the value."""
    if isinstance(value, float):  # -2.0**63 is what -2**63 - 1 rounds to: refused with it
        return value.is_integer() and -(2**63) < value < 2**63
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _unix_seconds(value: Any) -> bool:
    return _whole_number(value)


def validate_timestamp(body: dict[str, Any], key: str, field_name: str | None = None) -> Violation | None:
    """``body[key]``, when present, must be int Unix seconds (a string or float is refused)."""
    value = body.get(key)
    if value is None or _unix_seconds(value):
        return None
    return Violation(f"{key} must be a unix timestamp integer", field_name or key, "invalid_type")


def validate_identifier(value: Any, limits: Limits = DEFAULT_LIMITS, name: str = "id") -> Violation | None:
    if value is None:
        return Violation(f"{name} attribute must be present", name, "required")
    if not (isinstance(value, str) or _whole_number(value)):
        return Violation(f"{name} attribute must be a string value", name, "invalid_type")
    text = value if isinstance(value, str) else str(int(value))
    if not text.strip():
        return Violation(f"{name} attribute cannot be an empty string", name, "required")
    if _utf8_len(text) > limits.identifier_bytes:
        return Violation(
            f"{name} attribute cannot be longer than {limits.identifier_bytes} bytes", name, "too_long"
        )
    return None


def validate_attributes(
    attributes: dict[str, Any], limits: Limits = DEFAULT_LIMITS, prefix: str = ""
) -> list[Violation]:
    """Attribute count, name length and value length, as for an identify call."""
    counted = [k for k in attributes if k not in _CONTROL_KEYS]
    if len(counted) > limits.attributes_per_call:
        return [
            Violation(
                f"cannot identify more than {limits.attributes_per_call} attributes in one request",
                prefix.rstrip(".") or "attributes",
                "too_many",
            )
        ]
    problems = []
    for name in counted:
        if _utf8_len(name) > limits.attribute_name_bytes:
            problems.append(
                Violation(
                    f"attribute name cannot be longer than {limits.attribute_name_bytes} bytes",
                    prefix + name,
                    "too_long",
                )
            )
        elif _value_bytes(attributes[name]) > limits.attribute_value_bytes:
            problems.append(
                Violation(
                    f"value for attribute '{name}' cannot be longer than {limits.attribute_value_bytes} bytes",
                    prefix + name,
                    "too_long",
                )
            )
    return problems


def validate_identify(identifier: str, body: Any, limits: Limits = DEFAULT_LIMITS) -> list[Violation]:
    """``PUT /api/v1/customers/{identifier}``: the path id and the attributes in ``body``."""
    problem = validate_identifier(identifier, limits)
    if problem:
        return [problem]
    if not isinstance(body, dict):
        return [Violation("request body must be a JSON object", "", "invalid_type")]
    problems = []
    if body.get("id") is not None:
        # In the body, unlike the path, a number is not an id: "id attribute must be a string value".
        body_id = body["id"]
        problem = (
            validate_identifier(body_id, limits)
            if isinstance(body_id, str)
            else Violation("id attribute must be a string value", "id", "invalid_type")
        )
        if problem:
            problems.append(problem)
    problems += [p for key in _IDENTIFY_TIMES if (p := validate_timestamp(body, key))]
    return problems + validate_attributes(body, limits)


def _validate_event_fields(
    name: Any, data: Any, data_field: str, limits: Limits, data_bytes_below: int | None = None
) -> list[Violation]:
    """``data_bytes_below``: a bound known to exceed the data's JSON size (that of the operation
    holding it); within the limit, the data need not be measured again."""
    if not isinstance(name, str) or not name.strip():
        return [Violation("event name must not be blank", "name", "required")]
    if _utf8_len(name.strip()) > limits.event_name_bytes:
        return [
            Violation(f"event name cannot be longer than {limits.event_name_bytes} bytes", "name", "too_long")
        ]
    if data is None:
        return []
    if not isinstance(data, dict):
        return [Violation("event data must be a hash", data_field, "invalid_type")]
    within = data_bytes_below is not None and data_bytes_below <= limits.event_data_bytes
    if not within and json_size(data) > limits.event_data_bytes:
        return [
            Violation(
                f"event data cannot be longer than {limits.event_data_bytes} bytes", data_field, "too_long"
            )
        ]
    return []


def validate_event(body: Any, limits: Limits = DEFAULT_LIMITS, *, anonymous: bool = False) -> list[Violation]:
    """``POST /api/v1/customers/{id}/events`` and, with ``anonymous``, ``POST /api/v1/events``."""
    if not isinstance(body, dict):
        return [Violation("request body must be a JSON object", "", "invalid_type")]
    kind = body.get("type", "event")
    if not _is_one_of(kind, _EVENT_TYPES):
        return [Violation("type must be one of event, page, screen", "type", "invalid_value")]
    problems = _validate_event_fields(body.get("name"), body.get("data"), "data", limits)
    timestamp = validate_timestamp(body, "timestamp")
    if timestamp:
        problems.append(timestamp)
    event_id = body.get("id")
    if event_id is not None and not isinstance(event_id, str):
        problems.append(Violation("id must be a string", "id", "invalid_type"))
    if anonymous:
        # An anonymous event needs anonymous_id; without one it is an invite event, which needs
        # data.recipient instead (the Python SDK's track_anonymous(None, ...)).
        data = body.get("data")
        invite = body.get("anonymous_id") is None and isinstance(data, dict) and bool(data.get("recipient"))
        anon = None if invite else validate_identifier(body.get("anonymous_id"), limits, "anonymous_id")
        if anon:
            problems.append(anon)
    return problems


def validate_device(body: Any) -> list[Violation]:
    """``PUT /api/v1/customers/{id}/devices``: ``device.id`` and ``device.platform`` are required."""
    device = body.get("device") if isinstance(body, dict) else None
    if not isinstance(device, dict):
        return [Violation("device must be present", "device", "required")]
    problems = []
    if not isinstance(device.get("id"), str) or not device["id"]:
        problems.append(Violation("device id must be present", "device.id", "required"))
    if device.get("platform") not in ("ios", "android"):
        problems.append(
            Violation("device platform must be ios or android", "device.platform", "invalid_value")
        )
    return problems


def _single_identifier(value: Any, allowed: tuple[str, ...], field_name: str) -> Violation | None:
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in allowed:
        return Violation(
            f"{field_name} must have exactly one identifier of {', '.join(allowed)}",
            field_name,
            "invalid_value",
        )
    return None


def validate_merge(body: Any) -> list[Violation]:
    if not isinstance(body, dict):
        return [Violation("request body must be a JSON object", "", "invalid_type")]
    allowed = ("id", "email", "cio_id")
    return [p for f in ("primary", "secondary") if (p := _single_identifier(body.get(f), allowed, f))]


def _validate_person_operation(
    op: dict[str, Any], limits: Limits, measured: int | None = None
) -> list[Violation]:
    """``measured``: the operation's own JSON size, when measured (it bounds every part of it)."""
    action = op.get("action")
    if not _is_one_of(action, PERSON_ACTIONS):
        return [Violation(f"unknown person action {action!r}", "action", "invalid_value")]
    if action == "merge":
        allowed = ("id", "email", "cio_id")
        return [p for f in ("primary", "secondary") if (p := _single_identifier(op.get(f), allowed, f))]
    ident_problem = _single_identifier(op.get("identifiers"), _PERSON_IDENTIFIERS, "identifiers")
    if ident_problem:
        return [ident_problem]
    ident = validate_identifier(next(iter(op["identifiers"].values())), limits, "identifiers")
    if ident:
        return [ident]
    attributes = op.get("attributes")
    if action in ("event", "screen", "page"):
        return _validate_event_fields(op.get("name"), attributes, "attributes", limits, measured)
    if action in ("add_device", "delete_device"):
        device = op.get("device")
        if not isinstance(device, dict) or not device.get("token"):
            return [Violation("device token must be present", "device.token", "required")]
        if action == "add_device" and device.get("platform") not in ("ios", "android"):
            return [Violation("device platform must be ios or android", "device.platform", "invalid_value")]
        return []
    stamp = validate_timestamp(op, "timestamp")
    if stamp:
        return [stamp]
    if attributes is None:
        return []
    if not isinstance(attributes, dict):
        return [Violation("attributes must be an object", "attributes", "invalid_type")]
    created = validate_timestamp(attributes, "created_at", "attributes.created_at")
    return ([created] if created else []) + validate_attributes(attributes, limits, "attributes.")


def _validate_object_operation(op: dict[str, Any], limits: Limits) -> list[Violation]:
    if not _is_one_of(op.get("action"), OBJECT_ACTIONS):
        return [Violation(f"unknown object action {op.get('action')!r}", "action", "invalid_value")]
    ids = op.get("identifiers")
    if not isinstance(ids, dict) or not (
        ("object_type_id" in ids and "object_id" in ids) or "cio_object_id" in ids
    ):
        return [
            Violation(
                "identifiers must have object_type_id and object_id, or cio_object_id",
                "identifiers",
                "required",
            )
        ]
    attributes = op.get("attributes")
    if attributes is None:
        return []
    if not isinstance(attributes, dict):
        return [Violation("attributes must be an object", "attributes", "invalid_type")]
    return validate_attributes(attributes, limits, "attributes.")


def _validate_delivery_operation(op: dict[str, Any]) -> list[Violation]:
    if op.get("action") != "event" or not _is_one_of(op.get("name"), _DELIVERY_EVENTS):
        return [Violation("delivery events are opened, converted or delivered", "name", "invalid_value")]
    attributes = op.get("attributes")
    if not isinstance(attributes, dict) or not attributes.get("device_token"):
        return [Violation("attributes.device_token must be present", "attributes.device_token", "required")]
    return []


def validate_v2_operation(
    op: Any, limits: Limits = DEFAULT_LIMITS, size: int | None = None
) -> list[Violation]:
    """One v2 operation (``/api/v2/entity`` body or a ``/api/v2/batch`` item), including its size."""
    if not isinstance(op, dict):
        return [Violation("operation must be a JSON object", "", "invalid_type")]
    # A size given by the caller is the bytes received, which need not bound the compact form of a
    # part (1e15 grows when re-encoded); one measured here does.
    measured = None
    if size is None:
        size = measured = json_size(op)
    if size > limits.v2_operation_bytes:
        return [
            Violation(f"operation cannot be larger than {limits.v2_operation_bytes} bytes", "", "too_large")
        ]
    kind = op.get("type")
    if kind == "person":
        return _validate_person_operation(op, limits, measured)
    if kind == "object":
        return _validate_object_operation(op, limits)
    if kind == "delivery":
        return _validate_delivery_operation(op)
    return [Violation("type must be one of person, object, delivery", "type", "invalid_value")]


@dataclass
class V2BatchResult:
    """Outcome of a v2 batch: a request-level error (400) or per-operation errors (207 when some)."""

    request_error: Violation | None = None
    errors: list[tuple[int, Violation]] = field(default_factory=list)
    operations: int = 0

    @property
    def accepted(self) -> int:
        return 0 if self.request_error else self.operations - len({i for i, _ in self.errors})


def validate_v2_batch(body: Any, raw_size: int, limits: Limits = DEFAULT_LIMITS) -> V2BatchResult:
    if raw_size >= limits.v2_batch_bytes:
        return V2BatchResult(
            Violation(f"batch must be smaller than {limits.v2_batch_bytes} bytes", "batch", "too_large")
        )
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, list) or not batch:
        return V2BatchResult(Violation("batch must be a non-empty array", "batch", "required"))
    if limits.v2_batch_operations is not None and len(batch) > limits.v2_batch_operations:
        return V2BatchResult(
            Violation(
                f"batch cannot have more than {limits.v2_batch_operations} operations", "batch", "too_many"
            ),
            operations=len(batch),
        )
    result = V2BatchResult(operations=len(batch))
    for index, op in enumerate(batch):
        problems = validate_v2_operation(op, limits)
        if problems:  # most operations have none: no generator per operation
            result.errors.extend((index, v) for v in problems)
    if len({i for i, _ in result.errors}) == len(batch):
        # Nothing valid at all: the whole request is invalid (400), reported with indexes.
        result.request_error = result.errors[0][1]
    return result


def validate_cdp_message(
    message: Any, limits: Limits = DEFAULT_LIMITS, kind: str | None = None
) -> list[Violation]:
    """One Pipelines call (``/v1/track`` body or a ``/v1/batch`` item)."""
    if not isinstance(message, dict):
        return [Violation("message must be a JSON object", "", "invalid_type")]
    kind = kind or message.get("type")
    if not _is_one_of(kind, _CDP_TYPES):
        return [Violation(f"type must be one of {', '.join(sorted(_CDP_TYPES))}", "type", "invalid_value")]
    if json_size(message) > limits.cdp_message_bytes:
        return [Violation(f"message cannot be larger than {limits.cdp_message_bytes} bytes", "", "too_large")]
    if not message.get("userId") and not message.get("anonymousId"):
        return [Violation("userId or anonymousId is required", "userId", "required")]
    if kind == "track" and not (isinstance(message.get("event"), str) and message["event"].strip()):
        return [Violation("event is required for track calls", "event", "required")]
    if kind == "group" and not message.get("groupId"):
        return [Violation("groupId is required for group calls", "groupId", "required")]
    if kind == "alias" and not message.get("previousId"):
        return [Violation("previousId is required for alias calls", "previousId", "required")]
    return []


def validate_cdp_batch(
    body: Any, raw_size: int, limits: Limits = DEFAULT_LIMITS
) -> list[tuple[int | None, Violation]]:
    if raw_size > limits.cdp_batch_bytes:
        return [
            (
                None,
                Violation(
                    f"batch cannot be larger than {limits.cdp_batch_bytes} bytes", "batch", "too_large"
                ),
            )
        ]
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, list):
        return [(None, Violation("batch must be an array", "batch", "required"))]
    return [(i, v) for i, m in enumerate(batch) for v in validate_cdp_message(m, limits)]


def validate_transactional(kind: str, body: Any, limits: Limits = DEFAULT_LIMITS) -> list[Violation]:
    """App API ``/v1/send/{email,push,sms}``."""
    if not isinstance(body, dict):
        return [Violation("request body must be a JSON object", "", "invalid_type")]
    problems = []
    if "transactional_message_id" not in body and not (kind == "email" and "body" in body):
        problems.append(
            Violation("transactional_message_id is required", "transactional_message_id", "required")
        )
    ident = _single_identifier(body.get("identifiers"), ("id", "email", "cio_id"), "identifiers")
    if ident:
        problems.append(ident)
    if kind == "email":
        if not body.get("to"):
            problems.append(Violation("to is required", "to", "required"))
        recipients = sum(
            len([r for r in str(body.get(f) or "").split(",") if r.strip()]) for f in ("to", "cc", "bcc")
        )
        if recipients > limits.transactional_recipients:
            problems.append(
                Violation(
                    f"cannot send to more than {limits.transactional_recipients} recipients", "to", "too_many"
                )
            )
        attachments = body.get("attachments")
        if attachments is not None and json_size(attachments) >= limits.transactional_attachments_bytes:
            problems.append(
                Violation(
                    f"attachments must be smaller than {limits.transactional_attachments_bytes} bytes in total",
                    "attachments",
                    "too_large",
                )
            )
    return problems


def _object(body: Any) -> dict[str, Any] | None:
    return body if isinstance(body, dict) else None


_NOT_AN_OBJECT = Violation("request body must be a JSON object", "", "invalid_type")


def _required_field(body: Any, key: str) -> tuple[Any, list[Violation]]:
    """``body[key]``, or the violation when the body is no object or the key is missing."""
    data = _object(body)
    if data is None:
        return None, [_NOT_AN_OBJECT]
    if data.get(key) is None:
        return None, [Violation(f"{key} must be present", key, "required")]
    return data[key], []


def validate_segment_ids(segment_id: Any, body: Any, limits: Limits = DEFAULT_LIMITS) -> list[Violation]:
    """``POST /api/v1/segments/{segment_id}/add_customers`` and ``/remove_customers``.

    TRACK-2026: the segment id is an integer; ``ids`` is required, 1 to 1000 strings.
    """
    if not (isinstance(segment_id, str) and segment_id.isascii() and segment_id.isdigit()):
        return [Violation("segment_id must be an integer", "segment_id", "invalid_type")]
    ids, problems = _required_field(body, "ids")
    if problems:
        return problems
    most = limits.segment_ids_per_call
    if not isinstance(ids, list) or not ids:
        return [Violation(f"ids must be an array of 1 to {most} identifiers", "ids", "invalid_type")]
    if len(ids) > most:
        return [Violation(f"ids cannot have more than {most} identifiers in one request", "ids", "too_many")]
    for value in ids:
        if not isinstance(value, str):
            return [Violation("ids must be string values", "ids", "invalid_type")]
        problem = validate_identifier(value, limits)
        if problem:
            return [Violation(problem.message, "ids", problem.reason)]
    return []


def validate_form(form_id: Any, body: Any, limits: Limits = DEFAULT_LIMITS) -> list[Violation]:
    """``POST /api/v1/forms/{form_id}/submit``: ``data`` holds exactly one of ``id``/``email`` and
    form fields whose values are strings (TRACK-2026 ``submitForm``)."""
    if not isinstance(form_id, str) or not form_id.strip():
        return [Violation("form_id must be present", "form_id", "required")]
    data, problems = _required_field(body, "data")
    if problems:
        return problems
    if not isinstance(data, dict):
        return [Violation("data must be a hash", "data", "invalid_type")]
    identifiers = [k for k in ("id", "email") if data.get(k) not in (None, "")]
    if len(identifiers) != 1:
        return [Violation("data must contain exactly one of id or email", "data", "invalid_value")]
    key = identifiers[0]
    problem = validate_identifier(data[key], limits, key)
    if problem:
        return [problem]
    for name, value in data.items():
        if not isinstance(value, str) and not (name == "id" and _unix_seconds(value)):
            return [
                Violation(
                    f"form value '{name}' must be formatted as a string", f"data.{name}", "invalid_type"
                )
            ]
    return []


def _delivery_metric(body: Any, key: str, allowed: frozenset[str]) -> list[Violation]:
    data = _object(body)
    if data is None:
        return [_NOT_AN_OBJECT]
    delivery_id = data.get("delivery_id")
    if not isinstance(delivery_id, str) or not delivery_id.strip():
        return [Violation("delivery_id must be present", "delivery_id", "required")]
    if not _is_one_of(data.get(key), allowed):
        return [Violation(f"{key} must be one of {', '.join(sorted(allowed))}", key, "invalid_value")]
    stamp = validate_timestamp(data, "timestamp")
    return [stamp] if stamp else []


def validate_push_metric(body: Any) -> list[Violation]:
    """``POST /api/v1/push/events``: ``delivery_id``, ``event`` (opened/converted/delivered), ``device_id``."""
    problems = _delivery_metric(body, "event", PUSH_METRICS)
    if not problems and not isinstance(body.get("device_id", ""), str):
        problems.append(Violation("device_id must be a string", "device_id", "invalid_type"))
    return problems


def validate_metric(body: Any) -> list[Violation]:
    """``POST /api/v1/metrics`` (no auth): ``delivery_id`` and a ``metric`` of TRACK-2026's channels."""
    return _delivery_metric(body, "metric", METRICS)


def validate_unsubscribe(delivery_id: Any, body: Any) -> list[Violation]:
    """``POST /unsubscribe/{delivery_id}`` (no auth): an optional boolean ``unsubscribe``."""
    if not isinstance(delivery_id, str) or not delivery_id.strip():
        return [Violation("delivery_id must be present", "delivery_id", "required")]
    data = _object(body)
    if data is None:
        return [_NOT_AN_OBJECT]
    if "unsubscribe" in data and not isinstance(data["unsubscribe"], bool):
        return [Violation("unsubscribe must be true or false", "unsubscribe", "invalid_type")]
    return []
