"""JSON Schemas (OpenAPI 3.1 dialect) of every endpoint's path parameters and request body.

They state what ``cio_contract.validation`` checks, no more and no less, so a request the schema
accepts passes validation and one it refuses fails it; a test (schemathesis, against the sandbox and
the ingest) holds the two together. Where the validators measure UTF-8 bytes the schemas give
``maxLength`` in characters: equal for ASCII, and an upper bound for the rest. Limits on the encoded
size of a whole value (event data, operations, batches) cannot be said in JSON Schema; they are in
the descriptions. Integers are bounded to 64 bits: larger ones do not survive a JSON parser as integers.
"""

from __future__ import annotations

import time
from typing import Any

from cio_contract.limits import DEFAULT_LIMITS, Limits
from cio_contract.validation import METRICS, OBJECT_ACTIONS, PERSON_ACTIONS, PUSH_METRICS

__all__ = ["BODILESS", "body_schema", "param_schemas", "send_at_limit"]

Schema = dict[str, Any]

_INT64: Schema = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
_UNIX: Schema = {"type": ["integer", "null"], "minimum": -(2**63), "maximum": 2**63 - 1,
                 "description": "Unix seconds (an integer)"}  # fmt: skip
_TRUTHY: Schema = {"not": {"enum": [None, False, 0, "", [], {}]}, "description": "any value but an empty one"}
BODILESS = frozenset({"delete", "suppress", "unsuppress", "region", "delete_device"})
"""Endpoints that take no request body (a body sent anyway is ignored); every other one needs one."""
_DOT_SEGMENTS = {"not": {"enum": [".", ".."]}}  # a URL path cannot carry these as a segment


def _text(most: int) -> Schema:
    """A string with something other than whitespace, at most ``most`` bytes."""
    return {"type": "string", "minLength": 1, "maxLength": most, "pattern": r"\S"}


def _identifier(limits: Limits) -> Schema:
    """A person identifier value: a string or an integer, not blank, at most ``identifier_bytes``."""
    most = limits.identifier_bytes
    return {"anyOf": [_text(most), {**_INT64, "description": f"at most {most} digits"}]}


def _event_name(limits: Limits) -> Schema:
    # The limit applies after leading and trailing spaces are trimmed, which maxLength cannot say.
    inner = limits.event_name_bytes - 2
    return {"type": "string", "pattern": rf"^\s*\S(?:[\s\S]{{0,{inner}}}\S)?\s*$",
            "description": f"not blank; at most {limits.event_name_bytes} bytes once trimmed"}  # fmt: skip


def _one_identifier(keys: tuple[str, ...]) -> Schema:
    return {"type": "object", "minProperties": 1, "maxProperties": 1, "propertyNames": {"enum": list(keys)},
            "description": f"exactly one of {', '.join(keys)}"}  # fmt: skip


def _attributes(limits: Limits) -> Schema:
    return {
        "type": "object",
        "maxProperties": limits.attributes_per_call,
        "propertyNames": {"maxLength": limits.attribute_name_bytes},
        "additionalProperties": {"maxLength": limits.attribute_value_bytes},
        "properties": {"created_at": _UNIX},
        "description": f"at most {limits.attributes_per_call} attributes; names up to "
        f"{limits.attribute_name_bytes} bytes, values up to {limits.attribute_value_bytes} bytes",
    }


def _object(properties: Schema, required: tuple[str, ...] = (), **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return schema


def _identify(limits: Limits) -> Schema:
    attributes = _attributes(limits)
    properties = {
        **attributes["properties"],
        "id": {"anyOf": [_text(limits.identifier_bytes), {"type": "null"}]},
        "_timestamp": _UNIX,
        # Control keys: steer the call, not counted as attributes.
        "_update": {}, "cio_relationships": {}, "cio_subscription_preferences": {},
    }  # fmt: skip
    return {**attributes, "properties": properties}


def _event(limits: Limits, anonymous: bool) -> Schema:
    schema = _object(
        {
            "name": _event_name(limits),
            "type": {"enum": ["event", "page", "screen"]},
            "data": {
                "type": ["object", "null"],
                "description": f"at most {limits.event_data_bytes} bytes as JSON",
            },  # fmt: skip
            "timestamp": _UNIX,
            "id": {"type": ["string", "null"], "description": "a ULID: a repeated id is dropped"},
        },
        ("name",),
    )
    if anonymous:
        schema["anyOf"] = [
            _object({"anonymous_id": _identifier(limits)}, ("anonymous_id",)),
            # An invite event: no anonymous_id, a recipient in data instead.
            _object(
                {"anonymous_id": {"type": "null"}, "data": _object({"recipient": _TRUTHY}, ("recipient",))},
                ("data",),
            ),  # fmt: skip
        ]
    return schema


def _v2_operation(limits: Limits) -> Schema:
    person = {"type": {"const": "person"}}
    identifiers = _object({k: _identifier(limits) for k in ("id", "email", "phone", "cio_id")},
                          **_one_identifier(("id", "email", "phone", "cio_id")))  # fmt: skip
    events = ("event", "screen", "page")
    devices = ("add_device", "delete_device")
    other = sorted(PERSON_ACTIONS - {"merge", *events, *devices})
    operations = [
        _object({**person, "action": {"const": "merge"}, "primary": _one_identifier(("id", "email", "cio_id")),
                 "secondary": _one_identifier(("id", "email", "cio_id"))},
                ("type", "action", "primary", "secondary")),
        _object({**person, "action": {"enum": list(events)}, "identifiers": identifiers,
                 "name": _event_name(limits),
                 "attributes": {"type": ["object", "null"],
                                "description": f"event data, at most {limits.event_data_bytes} bytes"}},
                ("type", "action", "identifiers", "name")),
        _object({**person, "action": {"const": "add_device"}, "identifiers": identifiers,
                 "device": _object({"token": _TRUTHY, "platform": {"enum": ["ios", "android"]}},
                                   ("token", "platform"))}, ("type", "action", "identifiers", "device")),
        _object({**person, "action": {"const": "delete_device"}, "identifiers": identifiers,
                 "device": _object({"token": _TRUTHY}, ("token",))}, ("type", "action", "identifiers", "device")),
        _object({**person, "action": {"enum": other}, "identifiers": identifiers, "timestamp": _UNIX,
                 "attributes": {"anyOf": [_attributes(limits), {"type": "null"}]}},
                ("type", "action", "identifiers")),
        _object({"type": {"const": "object"}, "action": {"enum": sorted(OBJECT_ACTIONS)},
                 "identifiers": {"anyOf": [_object({}, ("object_type_id", "object_id")),
                                           _object({}, ("cio_object_id",))]},
                 "attributes": {"anyOf": [{**_attributes(limits), "properties": {}}, {"type": "null"}]}},
                ("type", "action", "identifiers")),
        _object({"type": {"const": "delivery"}, "action": {"const": "event"},
                 "name": {"enum": ["opened", "converted", "delivered"]},
                 "attributes": _object({"device_token": _TRUTHY}, ("device_token",))},
                ("type", "action", "name", "attributes")),
    ]  # fmt: skip
    return {"anyOf": operations, "description": f"one operation, at most {limits.v2_operation_bytes} bytes"}


_CDP_KINDS = ("identify", "track", "page", "screen", "group", "alias")


def _cdp_message(kind: str) -> Schema:
    """A Pipelines call of ``kind``: a user (``userId`` or ``anonymousId``) and what the kind needs."""
    who = [_object({"userId": _TRUTHY}, ("userId",)), _object({"anonymousId": _TRUTHY}, ("anonymousId",))]
    needs = {"track": ("event", {"type": "string", "pattern": r"\S"}), "group": ("groupId", _TRUTHY),
             "alias": ("previousId", _TRUTHY)}  # fmt: skip
    if kind not in needs:
        return {"type": "object", "anyOf": who}
    field, schema = needs[kind]
    return _object({field: schema}, (field,), anyOf=who)


def _cdp_batch_item() -> Schema:
    """A batch item: its ``type`` says which kind of call it is."""
    items = []
    for kind in _CDP_KINDS:
        schema = _cdp_message(kind)
        properties = {**schema.get("properties", {}), "type": {"const": kind}}
        items.append({**schema, "properties": properties, "required": ["type", *schema.get("required", [])]})
    return {"anyOf": items}


def send_at_limit(max_days: int, now: float | None = None) -> int:
    """The latest ``send_at`` accepted: the end of the ``max_days``-th whole UTC day from now.

    Whole days, so the OpenAPI document and the server agree on the bound all day long.
    """
    today = int((time.time() if now is None else now) // 86_400)
    return (today + 1 + max_days) * 86_400


def _transactional(kind: str, limits: Limits) -> Schema:
    properties: Schema = {
        "transactional_message_id": {"description": "numeric id or trigger name"},
        "identifiers": _one_identifier(("id", "email", "cio_id")),
        "send_at": {
            "type": ["number", "null"],
            "maximum": send_at_limit(limits.send_at_max_days),
            "description": f"Unix seconds, up to {limits.send_at_max_days} days ahead",
        },  # fmt: skip
    }
    schema = _object(properties, ("identifiers",))
    if kind != "email":
        schema["required"] = ["transactional_message_id", "identifiers"]
        return schema
    properties["to"] = {**_TRUTHY, "description": f"at most {limits.transactional_recipients} recipients "
                        "across to, cc and bcc"}  # fmt: skip
    properties["attachments"] = {"description": f"file name to base64, under "
                                 f"{limits.transactional_attachments_bytes} bytes in total"}  # fmt: skip
    schema["required"] = ["identifiers", "to"]
    schema["anyOf"] = [{"required": ["transactional_message_id"]}, {"required": ["body"]}]
    return schema


def body_schema(name: str, limits: Limits = DEFAULT_LIMITS) -> Schema | None:
    """The request body of endpoint ``name``; None when it takes none. KeyError for an unknown name."""
    ident_str = _text(limits.identifier_bytes)
    delivery = {"delivery_id": {"type": "string", "pattern": r"\S"}, "timestamp": _UNIX}
    bodies: dict[str, Schema | None] = {
        "identify": _identify(limits),
        **dict.fromkeys(BODILESS),
        "track": _event(limits, anonymous=False),
        "track_anonymous": _event(limits, anonymous=True),
        "add_device": _object({"device": _object({"id": {"type": "string", "minLength": 1},
                                                  "platform": {"enum": ["ios", "android"]}}, ("id", "platform"))},
                              ("device",)),
        "merge_customers": _object({"primary": _one_identifier(("id", "email", "cio_id")),
                                    "secondary": _one_identifier(("id", "email", "cio_id"))},
                                   ("primary", "secondary")),
        "add_to_segment": _object({"ids": {"type": "array", "minItems": 1, "maxItems": limits.segment_ids_per_call,
                                           "items": ident_str}}, ("ids",)),
        "submit_form": _object({"data": _form(limits)}, ("data",)),
        "push_metrics": _object({**delivery, "event": {"enum": sorted(PUSH_METRICS)}, "device_id": {"type": "string"}},
                                ("delivery_id", "event")),
        "metrics": _object({**delivery, "metric": {"enum": sorted(METRICS)}}, ("delivery_id", "metric")),
        "unsubscribe": _object({"unsubscribe": {"type": "boolean"}}),
        "v2_entity": {**_v2_operation(limits), "description": f"at most {limits.v2_entity_bytes} bytes"},
        "v2_batch": _object({"batch": {"type": "array", "minItems": 1, "items": _v2_operation(limits),
                                       **({"maxItems": limits.v2_batch_operations} if limits.v2_batch_operations else {}),
                                       "description": f"under {limits.v2_batch_bytes} bytes in all"}}, ("batch",)),
        "cdp_batch": _object({"batch": {"type": "array", "items": _cdp_batch_item(),
                                        "description": f"at most {limits.cdp_batch_bytes} bytes in all"}}, ("batch",)),
    }  # fmt: skip
    bodies["remove_from_segment"] = bodies["add_to_segment"]
    if name.startswith("send_"):
        return _transactional(name[len("send_") :], limits)
    if name.startswith("cdp_") and name != "cdp_batch":
        return {**_cdp_message(name[len("cdp_") :]),
                "description": f"at most {limits.cdp_message_bytes} bytes"}  # fmt: skip
    return bodies[name]


def _form(limits: Limits) -> Schema:
    """Form fields, all strings, with exactly one non-empty ``id`` (string or integer) or ``email``."""
    return {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "properties": {"id": {"type": ["string", "integer"]}, "email": {"type": "string"}},
        "anyOf": [
            _object({"id": _identifier(limits), "email": {"const": ""}}, ("id",)),
            _object({"email": _text(limits.identifier_bytes), "id": {"const": ""}}, ("email",)),
        ],
    }


def param_schemas(name: str, params: list[str], limits: Limits = DEFAULT_LIMITS) -> dict[str, Schema]:
    """The path parameters of endpoint ``name``."""
    schemas = {}
    for param in params:
        if param == "id":
            schema = {**_text(limits.identifier_bytes), **_DOT_SEGMENTS}
        elif param == "segment_id":
            schema = {"type": "string", "pattern": "^[0-9]+$", "description": "an integer"}
        elif param == "device_id":
            schema = {"type": "string", "minLength": 1, **_DOT_SEGMENTS}
        else:  # form_id, delivery_id: not blank
            schema = {"type": "string", "pattern": r"\S", **_DOT_SEGMENTS}
        schemas[param] = schema
    return schemas
