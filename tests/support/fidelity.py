"""Probes of documented Customer.io facts (``shared/reference/customerio-api.md``), one request each.

The same Track probes run against the sandbox and the ingest (an application switches between them by
host alone, so both must answer alike); App probes run against the sandbox only.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

__all__ = ["APP_PROBES", "Probe", "TRACK_PROBES", "check"]

TRACK_AUTH = "Basic " + base64.b64encode(b"demo-site:demo-track-key").decode()
APP_AUTH = "Bearer demo-app-key"
UNAUTHORIZED = {"meta": {"error": "Unauthorized request"}}


@dataclass(frozen=True)
class Probe:
    name: str
    method: str
    path: str
    body: Any
    status: int
    expect: Any = None
    """The exact JSON body, a predicate on it, or None (only the status is checked)."""
    auth: str | None = TRACK_AUTH
    headers: dict[str, str] = field(default_factory=dict)


def _errors(*messages: str) -> dict[str, Any]:
    return {"meta": {"errors": list(messages)}}


def _error(message: str) -> dict[str, Any]:
    return {"meta": {"error": message}}


def _v2_field(name: str) -> Callable[[Any], bool]:
    return lambda body: [e["field"] for e in body["errors"]] == [name]


def _delivery(body: Any) -> bool:
    return isinstance(body.get("delivery_id"), str) and isinstance(body.get("queued_at"), int)


_ATTRS_301 = {f"a{i}": i for i in range(301)}
TRACK_PROBES: tuple[Probe, ...] = (
    # 401: one body on every Track path, v1 and v2 (reference section 1: meta.error).
    Probe("401 identify", "PUT", "/api/v1/customers/u1", {}, 401, UNAUTHORIZED, auth=None),
    Probe("401 event", "POST", "/api/v1/customers/u1/events", {"name": "e"}, 401, UNAUTHORIZED, auth=None),
    Probe(
        "401 anonymous",
        "POST",
        "/api/v1/events",
        {"name": "e", "anonymous_id": "a"},
        401,
        UNAUTHORIZED,
        auth=None,
    ),  # fmt: skip
    Probe(
        "401 device",
        "PUT",
        "/api/v1/customers/u1/devices",
        {"device": {"id": "t", "platform": "ios"}},
        401,
        UNAUTHORIZED,
        auth="Basic " + base64.b64encode(b"demo-site:wrong").decode(),
    ),  # fmt: skip
    Probe("401 v2 batch", "POST", "/api/v2/batch", {"batch": []}, 401, UNAUTHORIZED, auth=None),
    Probe(
        "401 segment",
        "POST",
        "/api/v1/segments/1/add_customers",
        {"ids": ["u1"]},
        401,
        UNAUTHORIZED,
        auth=None,
    ),  # fmt: skip
    # identify: the id attribute (INVALID-REQ messages) and the 150-byte ID limit (section 6).
    Probe("identify ok", "PUT", "/api/v1/customers/u1", {"id": "u1", "created_at": 1700000000}, 200, {}),
    Probe(
        "identify id number",
        "PUT",
        "/api/v1/customers/u1",
        {"id": 42},
        400,
        _error("id attribute must be a string value"),
    ),  # fmt: skip
    Probe(
        "identify id empty",
        "PUT",
        "/api/v1/customers/u1",
        {"id": ""},
        400,
        _error("id attribute cannot be an empty string"),
    ),  # fmt: skip
    Probe("identify id 150 bytes", "PUT", "/api/v1/customers/u1", {"id": "i" * 150}, 200, {}),
    Probe(
        "identify id 151 bytes",
        "PUT",
        "/api/v1/customers/u1",
        {"id": "i" * 151},
        400,
        _error("id attribute cannot be longer than 150 bytes"),
    ),  # fmt: skip
    Probe(
        "path id 151 bytes",
        "PUT",
        "/api/v1/customers/" + "p" * 151,
        {},
        400,
        _error("id attribute cannot be longer than 150 bytes"),
    ),  # fmt: skip
    # Times are int Unix seconds on identify as on events (sections 1 and 6).
    Probe(
        "created_at string",
        "PUT",
        "/api/v1/customers/u1",
        {"created_at": "yesterday"},
        400,
        _error("created_at must be a unix timestamp integer"),
    ),  # fmt: skip
    Probe(
        "_timestamp string",
        "PUT",
        "/api/v1/customers/u1",
        {"_timestamp": "now"},
        400,
        _error("_timestamp must be a unix timestamp integer"),
    ),  # fmt: skip
    Probe(
        "event timestamp string",
        "POST",
        "/api/v1/customers/u1/events",
        {"name": "e", "timestamp": "yesterday"},
        400,
        _errors("timestamp must be a unix timestamp integer"),
    ),  # fmt: skip
    Probe(
        "301 attributes",
        "PUT",
        "/api/v1/customers/u1",
        _ATTRS_301,
        400,
        _error("cannot identify more than 300 attributes in one request"),
    ),  # fmt: skip
    # Anonymous events need anonymous_id (section 1); without one only an invite (data.recipient).
    Probe("anonymous ok", "POST", "/api/v1/events", {"name": "e", "anonymous_id": "a1"}, 200, {}),
    Probe(
        "anonymous without id",
        "POST",
        "/api/v1/events",
        {"name": "e", "data": {}},
        400,
        _errors("anonymous_id attribute must be present"),
    ),  # fmt: skip
    Probe(
        "invite event", "POST", "/api/v1/events", {"name": "invite", "data": {"recipient": "a@b.co"}}, 200, {}
    ),  # fmt: skip
    # Manual segments: 200 {}, 400 meta.errors, at most 1000 ids.
    Probe("segment add", "POST", "/api/v1/segments/7/add_customers", {"ids": ["u1", "u2"]}, 200, {}),
    Probe("segment remove", "POST", "/api/v1/segments/7/remove_customers", {"ids": ["u1"]}, 200, {}),
    Probe(
        "segment without ids",
        "POST",
        "/api/v1/segments/7/add_customers",
        {},
        400,
        _errors("ids must be present"),
    ),  # fmt: skip
    Probe(
        "segment 1001 ids",
        "POST",
        "/api/v1/segments/7/add_customers",
        {"ids": [f"u{i}" for i in range(1001)]},
        400,
        _errors("ids cannot have more than 1000 identifiers in one request"),
    ),  # fmt: skip
    Probe(
        "segment id not a number",
        "POST",
        "/api/v1/segments/vip/add_customers",
        {"ids": ["u1"]},
        400,
        _errors("segment_id must be an integer"),
    ),  # fmt: skip
    # Forms: 204 with no body; 400 meta.errors.
    Probe(
        "form submit",
        "POST",
        "/api/v1/forms/signup/submit",
        {"data": {"email": "a@b.co", "first_name": "A"}},
        204,
    ),  # fmt: skip
    Probe(
        "form without data", "POST", "/api/v1/forms/signup/submit", {}, 400, _errors("data must be present")
    ),
    Probe(
        "form two identifiers",
        "POST",
        "/api/v1/forms/signup/submit",
        {"data": {"email": "a@b.co", "id": "u1"}},
        400,
        _errors("data must contain exactly one of id or email"),
    ),  # fmt: skip
    # Delivery metrics: push/events with Track auth; metrics and unsubscribe without any.
    Probe(
        "push metrics",
        "POST",
        "/api/v1/push/events",
        {"delivery_id": "d1", "event": "opened", "device_id": "t1", "timestamp": 1700000000},
        200,
        {},
    ),  # fmt: skip
    Probe(
        "push metrics bad event",
        "POST",
        "/api/v1/push/events",
        {"delivery_id": "d1", "event": "read"},
        400,
        _error("event must be one of converted, delivered, opened"),
    ),  # fmt: skip
    Probe(
        "metrics without auth",
        "POST",
        "/api/v1/metrics",
        {"delivery_id": "d1", "metric": "clicked", "href": "https://x.example"},
        200,
        {},
        auth=None,
    ),  # fmt: skip
    Probe(
        "metrics without metric",
        "POST",
        "/api/v1/metrics",
        {"delivery_id": "d1"},
        400,
        _error(
            "metric must be one of bounced, clicked, converted, deferred, delivered, dropped, opened, spammed"
        ),
        auth=None,
    ),  # fmt: skip
    Probe("unsubscribe without auth", "POST", "/unsubscribe/d1", {"unsubscribe": True}, 200, {}, auth=None),
    # v2: the 300-attribute error names the field without a stray dot.
    Probe(
        "v2 301 attributes",
        "POST",
        "/api/v2/entity",
        {"type": "person", "action": "identify", "identifiers": {"id": "u1"}, "attributes": _ATTRS_301},
        400,
        _v2_field("attributes"),
    ),  # fmt: skip
    Probe(
        "v2 created_at string",
        "POST",
        "/api/v2/entity",
        {
            "type": "person",
            "action": "identify",
            "identifiers": {"id": "u1"},
            "attributes": {"created_at": "yesterday"},
        },
        400,
        _v2_field("attributes.created_at"),
    ),  # fmt: skip
)

APP_PROBES: tuple[Probe, ...] = tuple(
    Probe(
        f"send {kind}",
        "POST",
        f"/v1/send/{kind}",
        {"transactional_message_id": 3, "identifiers": {"id": "u1"}, "message_data": {"a": 1}},
        200,
        _delivery,
        auth=APP_AUTH,
    )  # fmt: skip
    for kind in ("whatsapp", "inbox_message", "in_app")
) + (
    Probe("401 send in_app", "POST", "/v1/send/in_app", {}, 401, UNAUTHORIZED, auth=None),
    Probe(
        "send whatsapp without identifiers",
        "POST",
        "/v1/send/whatsapp",
        {"transactional_message_id": 3},
        400,
        lambda body: "identifiers" in body["meta"]["error"],
        auth=APP_AUTH,
    ),  # fmt: skip
)


def check(base_url: str, probe: Probe) -> None:
    """Send ``probe`` to ``base_url`` and assert the documented status and body."""
    headers = {"Content-Type": "application/json", **probe.headers}
    if probe.auth:
        headers["Authorization"] = probe.auth
    r = requests.request(probe.method, base_url + probe.path, json=probe.body, headers=headers, timeout=30)
    assert r.status_code == probe.status, (probe.name, r.status_code, r.text[:300])
    if probe.status == 204:
        assert r.content == b"", (probe.name, r.content[:100])
        return
    if probe.expect is None:
        return
    body = r.json()
    if callable(probe.expect):
        assert probe.expect(body), (probe.name, body)
    else:
        assert body == probe.expect, (probe.name, body)
