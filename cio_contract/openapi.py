"""An OpenAPI 3.1 document of a set of endpoints, generated from the contract: paths, path parameters,
request bodies (``cio_contract.schemas``), success bodies, the documented error bodies per API, and
the security scheme of each API. Servers add the answers of their own (faults, unavailability).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cio_contract.endpoints import Api, Endpoint
from cio_contract.errors import meta_errors_endpoints
from cio_contract.limits import DEFAULT_LIMITS, Limits
from cio_contract.schemas import body_schema, param_schemas

__all__ = ["SECURITY_SCHEMES", "error_schema", "openapi_document"]

SECURITY_SCHEMES: dict[str, Any] = {
    "trackBasic": {"type": "http", "scheme": "basic", "description": "site_id:track_api_key"},
    "appBearer": {"type": "http", "scheme": "bearer", "description": "App API key"},
    "cdpBasic": {"type": "http", "scheme": "basic", "description": "write_key: (empty password)"},
}
_SECURITY = {Api.TRACK: "trackBasic", Api.APP: "appBearer", Api.CDP: "cdpBasic"}

_STRING = {"type": "string"}
_META_ERROR = {
    "type": "object",
    "required": ["meta"],
    "properties": {"meta": {"type": "object", "required": ["error"], "properties": {"error": _STRING}}},
}
_META_ERRORS = {
    "type": "object",
    "required": ["meta"],
    "properties": {
        "meta": {
            "type": "object",
            "required": ["errors"],
            "properties": {"errors": {"type": "array", "items": _STRING}},
        }
    },
}
_V2_ERRORS = {
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["reason", "field", "message"],
                "properties": {
                    "batch_index": {"type": "integer"},
                    "reason": _STRING,
                    "field": _STRING,
                    "message": _STRING,
                },
            },
        }
    },
}
_CDP_ERROR = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": _STRING, "message": _STRING},
}
_APP_OK = {
    "type": "object",
    "required": ["delivery_id", "queued_at"],
    "properties": {"delivery_id": _STRING, "queued_at": {"type": "integer"}},
}
_REGION_OK = {"type": "object", "required": ["url", "region", "environment_id"],
              "properties": {"url": _STRING, "region": {"enum": ["us", "eu"]},
                             "environment_id": {"type": ["string", "integer"]}}}  # fmt: skip
_SERVER_ANSWERS = {
    "408": "Headers or body not received within the server's deadline",
    "413": "Body over the size limit",
    "414": "Request target too long",
    "431": "Request headers too large or too many",
}


def error_schema(e: Endpoint) -> dict[str, Any]:
    """The schema of every error body ``e`` answers (cio_contract.errors, per API and endpoint)."""
    if e.api is Api.CDP:
        return _CDP_ERROR
    if e.name in ("v2_entity", "v2_batch"):
        return {"anyOf": [_V2_ERRORS, _META_ERROR]}  # 401 is meta.error on v2 too
    if e.name in meta_errors_endpoints():
        return {"anyOf": [_META_ERRORS, _META_ERROR]}
    return _META_ERROR


def _json(description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _responses(e: Endpoint, extra: Mapping[str, str]) -> dict[str, Any]:
    errors = error_schema(e)
    if e.ok_status == 204:
        responses: dict[str, Any] = {"204": {"description": "Accepted (no body)"}}
    elif e.api is Api.APP:
        responses = {"200": _json("Queued", _APP_OK)}
    elif e.name == "region":
        responses = {"200": _json("The workspace's region", _REGION_OK)}
    else:
        responses = {"200": _json("Accepted", {"type": "object"})}
    if e.name == "v2_batch":
        responses["207"] = _json("Some operations invalid; the others accepted (errors carry batch_index)",
                                 _V2_ERRORS)  # fmt: skip
    responses["400"] = _json("Invalid request", errors)
    if e.auth:
        responses["401"] = _json("Wrong or missing credentials", errors)
    for status, description in {**_SERVER_ANSWERS, **extra}.items():
        responses[status] = _json(description, errors)
    return responses


def _operation(e: Endpoint, limits: Limits, extra: Mapping[str, str]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": e.name,
        "tags": [str(e.api)],
        "security": [{_SECURITY[e.api]: []}] if e.auth else [],
        "responses": _responses(e, extra),
    }
    names = [s[1:-1] for s in e.segments if s.startswith("{")]
    parameters = [{"name": n, "in": "path", "required": True, "schema": s}
                  for n, s in param_schemas(e.name, names, limits).items()]  # fmt: skip
    if e.api is Api.CDP:
        parameters.append({
            "name": "X-Strict-Mode", "in": "header", "required": False, "schema": {"type": "string", "enum": ["1"]},
            "description": "1: answer 400 for an invalid or oversized payload. Without it Pipelines answers 200 "
            "to any payload and drops what it cannot process, so the request schema binds only in strict mode.",
        })  # fmt: skip
    if parameters:
        op["parameters"] = parameters
    body = body_schema(e.name, limits)
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def openapi_document(endpoints: Iterable[Endpoint], title: str, description: str,
                     limits: Limits = DEFAULT_LIMITS, extra_responses: Mapping[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """The document of ``endpoints``; ``extra_responses`` (status -> description) are answers every
    operation of this server may give besides the contract's (e.g. injected faults)."""
    paths: dict[str, Any] = {}
    used: set[str] = set()
    for e in endpoints:
        paths.setdefault(e.path, {})[e.method.lower()] = _operation(e, limits, extra_responses or {})
        if e.auth:
            used.add(_SECURITY[e.api])
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1", "description": description},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"securitySchemes": {k: v for k, v in SECURITY_SCHEMES.items() if k in used}},
    }
