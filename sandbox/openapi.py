"""An OpenAPI 3.1 document of the emulated endpoints, generated from the contract's endpoint table."""

from __future__ import annotations

from typing import Any

from cio_contract import ENDPOINTS, Api, Endpoint

__all__ = ["openapi_document"]

_SECURITY = {Api.TRACK: "trackBasic", Api.APP: "appBearer", Api.CDP: "cdpBasic"}
_ERROR = {"description": "Error (JSON body in the API's documented shape)",
          "content": {"application/json": {"schema": {"type": "object"}}}}  # fmt: skip
_SANDBOX = {
    "429": {
        "description": "Over the workspace's rate limit (reject/block modes; sandbox behaviour)",
        **_ERROR,
    },
    "500": {"description": "Injected fault", **_ERROR},
    "503": {"description": "Injected fault or outage", **_ERROR},
}


def _responses(e: Endpoint) -> dict[str, Any]:
    ok: dict[str, Any] = {
        "description": "Accepted",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    responses: dict[str, Any] = (
        {"200": ok} if e.ok_status == 200 else {str(e.ok_status): {"description": "Accepted"}}
    )
    if e.auth:
        responses["401"] = {"description": "Wrong or missing credentials", **_ERROR}
    if e.name == "v2_batch":
        responses["207"] = {"description": "Some operations invalid (errors carry batch_index)", **_ERROR}
    if e.method != "GET":
        responses["400"] = {"description": "Invalid request", **_ERROR}
    if e.api is Api.APP:
        ok["content"]["application/json"]["schema"] = {
            "type": "object",
            "properties": {"delivery_id": {"type": "string"}, "queued_at": {"type": "integer"}},
        }
    return {**responses, **_SANDBOX}


def _operation(e: Endpoint) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": e.name,
        "tags": [str(e.api)],
        "security": [{_SECURITY[e.api]: []}] if e.auth else [],
        "responses": _responses(e),
    }
    params = [s[1:-1] for s in e.segments if s.startswith("{")]
    if params:
        op["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
        ]
    if e.method in ("POST", "PUT"):
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    if e.api is Api.CDP:
        op["parameters"] = [
            {"name": "X-Strict-Mode", "in": "header", "required": False, "schema": {"type": "string", "enum": ["1"]},
             "description": "1 = answer 400 for invalid or oversized payloads instead of 200-and-drop"}
        ]  # fmt: skip
    return op


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for e in ENDPOINTS:
        paths.setdefault(e.path, {})[e.method.lower()] = _operation(e)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Customer.io sandbox",
            "version": "1",
            "description": "Local emulator of Customer.io's Track (v1, v2), App (transactional) and "
            "Pipelines APIs. Admin endpoints live under /__sandbox.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "trackBasic": {"type": "http", "scheme": "basic", "description": "site_id:track_api_key"},
                "appBearer": {"type": "http", "scheme": "bearer", "description": "App API key"},
                "cdpBasic": {"type": "http", "scheme": "basic", "description": "write_key: (empty password)"},
            }
        },
    }
