"""The emulated API handlers: parse, validate with ``cio_contract``, store, and build the response.

Each handler gets the request context and returns ``(outcome, ops_accepted, ops_invalid, response)``;
the dispatcher (``sandbox.app``) does authentication, limits, faults and the accounting around it.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from typing import Any

import orjson

from cio_contract import (
    Api,
    Violation,
    cdp_error,
    error_body,
    v2_errors,
    validate_cdp_batch,
    validate_cdp_message,
    validate_transactional,
    validate_v1,
    validate_v2_batch,
    validate_v2_operation,
)
from cio_contract.delivery import DELIVERY_ID_ATTRIBUTE
from cio_contract.schemas import send_at_limit
from httpserver.responses import EMPTY_OK, json_response
from sandbox.accounting import ACCEPTED, INVALID, TOO_LARGE
from sandbox.request import Recorder, Request

__all__ = ["HANDLERS", "Result", "parse_body"]

Result = tuple[int, int, int, bytes]
Handler = Callable[[Recorder, Request], Result]
_NOT_JSON = object()
_delivery_ids = itertools.count(1)


def parse_body(body: bytes, empty_ok: bool = True) -> Any:
    """The JSON value of ``body``, ``{}`` for an empty body, or ``_NOT_JSON`` (malformed or not UTF-8)."""
    if not body:
        return {} if empty_ok else _NOT_JSON
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def _v1_invalid(req: Request, messages: list[str]) -> Result:
    return INVALID, 0, 1, json_response(400, error_body(Api.TRACK, req.endpoint.name, "invalid", messages))


def _not_json(req: Request) -> Result:
    message = "request body must be valid UTF-8 JSON"
    api = req.endpoint.api
    if req.endpoint.name in ("v2_entity", "v2_batch"):
        body = v2_errors([(None, Violation(message, "", "invalid_json"))])
    else:
        body = error_body(api, req.endpoint.name, "invalid_json", [message])
    return INVALID, 0, 1, json_response(400, body)


def _v1_problems(req: Request, body: Any = None) -> list[str]:
    return [p.message for p in validate_v1(req.endpoint.name, req.params, body, req.limits)]


def _valid_v1_body(req: Request) -> tuple[Any, Result | None]:
    """The parsed body, or the 400 reply when it is missing, not JSON or breaks the contract."""
    body = parse_body(req.body, empty_ok=False)
    if body is _NOT_JSON:
        return None, _not_json(req)
    problems = _v1_problems(req, body)
    return body, (_v1_invalid(req, problems) if problems else None)


def _invalid_v1_path(req: Request) -> Result | None:
    """The 400 reply when the path's identifiers break the contract (calls without a body)."""
    problems = _v1_problems(req)
    return _v1_invalid(req, problems) if problems else None


def identify(app: Recorder, req: Request) -> Result:
    body, refused = _valid_v1_body(req)
    if refused:
        return refused
    app.store.identify(req.workspace_name, req.params["id"], body)
    app.arrived(body.get(DELIVERY_ID_ATTRIBUTE))
    return ACCEPTED, 1, 0, EMPTY_OK


def delete(app: Recorder, req: Request) -> Result:
    refused = _invalid_v1_path(req)
    if refused:
        return refused
    app.store.delete_person(req.workspace_name, req.params["id"])
    return ACCEPTED, 1, 0, EMPTY_OK


def _track(app: Recorder, req: Request, anonymous: bool) -> Result:
    body, refused = _valid_v1_body(req)
    if refused:
        return refused
    person = body.get("anonymous_id") if anonymous else req.params["id"]
    app.arrived(body.get("id"))
    app.event(req, person, body["name"].strip(), body.get("type", "event"), body.get("id"), body.get("data"))
    return ACCEPTED, 1, 0, EMPTY_OK


def track(app: Recorder, req: Request) -> Result:
    return _track(app, req, anonymous=False)


def track_anonymous(app: Recorder, req: Request) -> Result:
    return _track(app, req, anonymous=True)


def add_device(app: Recorder, req: Request) -> Result:
    body, refused = _valid_v1_body(req)
    if refused:
        return refused
    app.store.device(req.workspace_name, req.params["id"], body["device"])
    app.arrived(_attribute_id(body["device"].get("attributes")))
    return ACCEPTED, 1, 0, EMPTY_OK


def delete_device(app: Recorder, req: Request) -> Result:
    refused = _invalid_v1_path(req)
    if refused:
        return refused
    app.store.device(req.workspace_name, req.params["id"], {"id": req.params["device_id"]}, delete=True)
    return ACCEPTED, 1, 0, EMPTY_OK


def _suppression(app: Recorder, req: Request, suppressed: bool) -> Result:
    refused = _invalid_v1_path(req)
    if refused:
        return refused
    app.store.suppress(req.workspace_name, req.params["id"], suppressed)
    return ACCEPTED, 1, 0, EMPTY_OK


def suppress(app: Recorder, req: Request) -> Result:
    return _suppression(app, req, True)


def unsuppress(app: Recorder, req: Request) -> Result:
    return _suppression(app, req, False)


def merge_customers(app: Recorder, req: Request) -> Result:
    body, refused = _valid_v1_body(req)
    if refused:
        return refused
    primary, secondary = (next(iter(body[f].values())) for f in ("primary", "secondary"))
    app.store.merge(req.workspace_name, str(primary), str(secondary))
    return ACCEPTED, 1, 0, EMPTY_OK


NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


def _recorded_call(kind: str, person_of: Callable[[Request, dict[str, Any]], Any]) -> Handler:
    """A v1 call the sandbox only validates and records as one event of ``kind`` (segments, forms,
    delivery metrics, unsubscribes), answered with the endpoint's documented success status."""

    def handler(app: Recorder, req: Request) -> Result:
        body, refused = _valid_v1_body(req)
        if refused:
            return refused
        if req.endpoint.name == "submit_form":
            data = body["data"]
            person = str(data.get("id") or data.get("email"))
            app.store.identify(req.workspace_name, person, {k: v for k, v in data.items() if k != "id"})
        app.event(req, person_of(req, body), req.endpoint.name, kind, None, {**req.params, **body})
        return ACCEPTED, 1, 0, NO_CONTENT if req.endpoint.ok_status == 204 else EMPTY_OK

    handler.__name__ = kind
    return handler


def _form_person(req: Request, body: dict[str, Any]) -> Any:
    return body["data"].get("id") or body["data"].get("email")


def region(app: Recorder, req: Request) -> Result:
    body = {"url": "https://track.customer.io", "region": "us", "environment_id": req.workspace}
    return ACCEPTED, 0, 0, json_response(200, body)


def _person_key(identifiers: Any) -> str | None:
    if not isinstance(identifiers, dict) or not identifiers:
        return None
    kind, value = next(iter(identifiers.items()))
    return f"cio_{value}" if kind == "cio_id" else str(value)


def _attribute_id(attributes: Any) -> Any:
    return attributes.get(DELIVERY_ID_ATTRIBUTE) if isinstance(attributes, dict) else None


def _v2_delivery_id(op: dict[str, Any]) -> Any:
    device = op.get("device")
    return (
        op.get("id")
        or _attribute_id(op.get("attributes"))
        or (_attribute_id(device.get("attributes")) if isinstance(device, dict) else None)
    )


def _apply_v2(app: Recorder, req: Request, op: dict[str, Any]) -> None:
    if app.records_arrivals:
        app.arrived(_v2_delivery_id(op))
    if op.get("type") != "person":
        return
    action = op.get("action")
    person = _person_key(op.get("identifiers"))
    if action in ("event", "page", "screen"):
        app.event(req, person, str(op.get("name", "")).strip(), action, op.get("id"), op.get("attributes"))
    elif action == "identify" and person is not None:
        app.store.identify(req.workspace_name, person, op.get("attributes") or {})
    elif action == "delete" and person is not None:
        app.store.delete_person(req.workspace_name, person)


def v2_entity(app: Recorder, req: Request) -> Result:
    limit = req.limits.v2_entity_bytes
    if len(req.body) > limit:
        problem = Violation(f"request cannot be larger than {limit} bytes", "", "too_large")
        return TOO_LARGE, 0, 1, json_response(400, v2_errors([(None, problem)]))
    body = parse_body(req.body, empty_ok=False)
    if body is _NOT_JSON:
        return _not_json(req)
    problems = validate_v2_operation(body, req.limits, size=len(req.body))
    if problems:
        return INVALID, 0, 1, json_response(400, v2_errors((None, p) for p in problems))
    _apply_v2(app, req, body)
    return ACCEPTED, 1, 0, EMPTY_OK


def v2_batch(app: Recorder, req: Request) -> Result:
    body = parse_body(req.body, empty_ok=False)
    if body is _NOT_JSON:
        return _not_json(req)
    result = validate_v2_batch(body, len(req.body), req.limits)
    if result.request_error:
        outcome = TOO_LARGE if result.request_error.reason == "too_large" and not result.errors else INVALID
        errors: list[tuple[int | None, Violation]] = [*result.errors] or [(None, result.request_error)]
        return outcome, 0, result.operations or 1, json_response(400, v2_errors(errors))
    bad = {i for i, _ in result.errors}
    for index, op in enumerate(body["batch"]):
        if index not in bad:
            _apply_v2(app, req, op)
    if result.errors:
        return ACCEPTED, result.accepted, len(bad), json_response(207, v2_errors(result.errors))
    return ACCEPTED, result.accepted, 0, EMPTY_OK


def _send(kind: str) -> Handler:
    def send(app: Recorder, req: Request) -> Result:
        body = parse_body(req.body, empty_ok=False)
        if body is _NOT_JSON:
            return _not_json(req)
        problems = validate_transactional(kind, body, req.limits) + _send_at(
            body, req.limits.send_at_max_days
        )
        if problems:
            message = "; ".join(p.message for p in problems)
            return (
                INVALID,
                0,
                1,
                json_response(400, error_body(Api.APP, req.endpoint.name, "invalid", [message])),
            )
        person = _person_key(body.get("identifiers"))
        app.arrived(_attribute_id(body.get("message_data")))
        delivery_id = f"sbx{os.getpid():x}{next(_delivery_ids):x}"
        app.event(req, person, f"send_{kind}", "transactional", delivery_id, body.get("message_data"))
        return ACCEPTED, 1, 0, json_response(200, {"delivery_id": delivery_id, "queued_at": int(time.time())})

    send.__name__ = f"send_{kind}"
    return send


def _send_at(body: dict[str, Any], max_days: int) -> list[Violation]:
    # The contract carries the 90-day figure but no check; a past time just sends now.
    send_at = body.get("send_at")
    if send_at is None:
        return []
    if isinstance(send_at, bool) or not isinstance(send_at, int | float):
        return [Violation("send_at must be a unix timestamp", "send_at", "invalid_type")]
    if send_at > send_at_limit(max_days):
        return [
            Violation(f"send_at cannot be more than {max_days} days in the future", "send_at", "too_late")
        ]
    return []


def _cdp_refused(req: Request, outcome: int, code: str, message: str, ops: int) -> Result:
    # Pipelines answers 200 and silently drops what it will not process, unless X-Strict-Mode: 1.
    if req.strict:
        return outcome, 0, ops, json_response(400, cdp_error(code, message))
    return outcome, 0, ops, EMPTY_OK


def _apply_cdp(app: Recorder, req: Request, message: dict[str, Any], kind: str) -> None:
    app.arrived(message.get("messageId"))
    person = message.get("userId") or message.get("anonymousId")
    person = str(person) if person is not None else None
    if kind == "identify" and person is not None:
        traits = message.get("traits")
        app.store.identify(req.workspace_name, person, traits if isinstance(traits, dict) else {})
    elif kind in ("track", "page", "screen"):
        name = message.get("event") if kind == "track" else message.get("name") or kind
        app.event(req, person, str(name), kind, message.get("messageId"), message.get("properties"))


def _cdp_single(kind: str) -> Handler:
    def cdp(app: Recorder, req: Request) -> Result:
        limit = req.limits.cdp_message_bytes
        if len(req.body) > limit:
            return _cdp_refused(
                req, TOO_LARGE, "too_large", f"request cannot be larger than {limit} bytes", 1
            )
        body = parse_body(req.body, empty_ok=False)
        if body is _NOT_JSON:
            return _cdp_refused(req, INVALID, "invalid_json", "request body must be valid UTF-8 JSON", 1)
        problems = validate_cdp_message(body, req.limits, kind)
        if problems:
            return _cdp_refused(req, INVALID, problems[0].reason, problems[0].message, 1)
        _apply_cdp(app, req, body, kind)
        return ACCEPTED, 1, 0, EMPTY_OK

    cdp.__name__ = f"cdp_{kind}"
    return cdp


def cdp_batch(app: Recorder, req: Request) -> Result:
    body = parse_body(req.body, empty_ok=False)
    if body is _NOT_JSON:
        return _cdp_refused(req, INVALID, "invalid_json", "request body must be valid UTF-8 JSON", 1)
    problems = validate_cdp_batch(body, len(req.body), req.limits)
    request_level = [v for i, v in problems if i is None]
    if request_level:
        outcome = TOO_LARGE if request_level[0].reason == "too_large" else INVALID
        return _cdp_refused(req, outcome, request_level[0].reason, request_level[0].message, 1)
    batch = body["batch"]
    bad = {i for i, _ in problems}
    if problems and req.strict:
        message = "; ".join(f"batch[{i}]: {v.message}" for i, v in problems[:10])
        return INVALID, 0, len(bad), json_response(400, cdp_error("invalid", message))
    for index, message in enumerate(batch):
        if index not in bad:
            _apply_cdp(app, req, message, str(message.get("type")))
    accepted = len(batch) - len(bad)
    return (ACCEPTED if accepted or not batch else INVALID), accepted, len(bad), EMPTY_OK


HANDLERS: dict[str, Handler] = {
    "identify": identify,
    "delete": delete,
    "track": track,
    "track_anonymous": track_anonymous,
    "add_device": add_device,
    "delete_device": delete_device,
    "suppress": suppress,
    "unsuppress": unsuppress,
    "merge_customers": merge_customers,
    "region": region,
    "v2_entity": v2_entity,
    "v2_batch": v2_batch,
    "send_email": _send("email"),
    "send_push": _send("push"),
    "send_sms": _send("sms"),
    "send_whatsapp": _send("whatsapp"),
    "send_inbox_message": _send("inbox_message"),
    "send_in_app": _send("in_app"),
    "add_to_segment": _recorded_call("segment", lambda req, body: None),
    "remove_from_segment": _recorded_call("segment", lambda req, body: None),
    "submit_form": _recorded_call("form", _form_person),
    "push_metrics": _recorded_call("metric", lambda req, body: None),
    "metrics": _recorded_call("metric", lambda req, body: None),
    "unsubscribe": _recorded_call("unsubscribe", lambda req, body: None),
    **{f"cdp_{k}": _cdp_single(k) for k in ("identify", "track", "page", "screen", "group", "alias")},
    "cdp_batch": cdp_batch,
}
