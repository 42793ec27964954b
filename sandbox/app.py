"""Request dispatch: route, authenticate, size, faults, rate limit, then the API handler, then account.

``Sandbox`` is the ``httpserver.Application`` the server calls with each parsed request; it answers
with an ``httpserver`` reply (bytes, a ``Delayed`` reply, a coroutine for admin calls, or
``RESET``/``Hang`` from fault injection). The admin API's loopback rule reads ``Request.loopback``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from cio_contract import (
    ENDPOINTS,
    UNAUTHORIZED_MESSAGE,
    Api,
    Endpoint,
    Router,
    cdp_error,
    error_body,
    rate_limited_message,
)
from httpserver import HANG, RESET, Delayed, Hang
from httpserver import Request as HttpRequest
from httpserver.responses import EMPTY_OK, json_response
from sandbox import faults as fault_kinds
from sandbox.accounting import (
    BLOCKED,
    DROPPED,
    FAULT,
    INVALID,
    NOT_FOUND,
    RATE_LIMITED,
    TOO_LARGE,
    UNAUTHORIZED,
    UNMATCHED,
    Accounting,
)
from sandbox.arrivals import ArrivalLog
from sandbox.auth import Authenticator
from sandbox.config import SandboxConfig
from sandbox.faults import Faults
from sandbox.handlers import HANDLERS
from sandbox.ratelimit import APIS, DELAY, DROP, REJECT, RateLimiter
from sandbox.ratelimit import BLOCKED as RL_BLOCKED
from sandbox.request import Request
from sandbox.shared import CTL_RESET, SharedMemory
from sandbox.store import Store

__all__ = ["HANG", "RESET", "Delayed", "Request", "Sandbox"]

ADMIN = "admin"
_NOT_GZIP = b"\xff not gzip"
"""Stands in for a body that is not the gzip it claims to be: invalid UTF-8, answered like any
malformed body in the endpoint's own error shape."""


class Sandbox:
    """All per-process state of one sandbox worker."""

    def __init__(self, config: SandboxConfig, shared: SharedMemory, accounting: Accounting,
                 limiter: RateLimiter, process_index: int = 0):  # fmt: skip
        self.config = config
        self.shared = shared
        self.process_index = process_index
        self.router = Router(ENDPOINTS)
        self.auth = Authenticator(config.workspaces)
        self.accounting = accounting
        self.limiter = limiter
        self.faults = Faults(shared)
        self.store = Store(
            config.store_mode, config.max_events, config.max_people, config.dedup_window, shared.ids
        )
        self.workspace_names = accounting.workspaces
        self.started = time.time()
        self._control = shared.control()
        self._reset_generation = 0
        self._api_index = {e.name: APIS.index(str(e.api)) for e in ENDPOINTS}
        self._endpoint_index = accounting.endpoint_index
        self._handlers = HANDLERS
        self._cache: dict[tuple[Any, ...], bytes] = {}
        self.admin: Any = None  # set by sandbox.admin.Admin (it needs the app too)
        self.arrivals: ArrivalLog | None = None
        """Delivery accounting's arrivals file (``--arrivals-dir``), set by the server."""
        self._max_body = config.max_body_bytes

    # -- the httpserver.Application interface ------------------------------------------------------

    def head(self, request: HttpRequest) -> bytes | None:
        """Route on the headers alone; a declared body over the global maximum is refused unread."""
        route = request.context = self.route(request.method, request.target)
        request.body_cap = self.body_cap(route[0])
        if request.content_length > self._max_body:
            auth = request.headers.get(b"authorization")
            return self.declared_too_large(route, auth, request.content_length)
        return None

    def respond(self, request: HttpRequest) -> Any:
        headers = request.headers
        strict = headers.get(b"x-strict-mode")
        return self.handle(
            request.method, request.target, request.context, headers.get(b"authorization"),
            False if strict is None else (True if strict.strip() == b"1" else None),
            request.body if request.body_error is None else _NOT_GZIP,
            request.discarded, request.loopback,
        )  # fmt: skip

    def error_body(self, status: int, message: str, target: str) -> bytes:
        """The server's own errors (limits, deadlines, malformed requests) in the shape of the API the
        target belongs to; admin paths and unknown targets get the admin API's ``{"error": ...}``."""
        path = target.split("?", 1)[0]
        methods = (
            self.router.methods(path) if path and not path.startswith(("/__sandbox", "/metrics")) else []
        )
        if not methods:
            return orjson.dumps({"error": message})
        endpoint = self.router.match(methods[0], path)[0]
        assert endpoint is not None
        return orjson.dumps(error_body(endpoint.api, endpoint.name, "bad_request", [message]))

    # -- routing (called when the headers are complete) --------------------------------------------

    def route(self, method: str, path: str) -> tuple[Endpoint | None, dict[str, str], Any]:
        if path.startswith(("/__sandbox", "/metrics")):
            return None, {}, ADMIN
        return self.router.match(method, path)

    def body_cap(self, endpoint: Endpoint | None) -> int:
        """Most bytes worth reading for ``endpoint``; above this the body is discarded unread.

        For v2 and Pipelines one byte above the documented limit is still read, so validation can
        answer a body that is just over with the contract's own message.
        """
        limit = self.request_limit(endpoint)
        return (
            limit + 1
            if endpoint is not None and (endpoint.api is Api.CDP or endpoint.name[:3] == "v2_")
            else limit
        )

    def request_limit(self, endpoint: Endpoint | None) -> int:
        if endpoint is None:
            return 64 * 1024
        limits = self.config.limits
        if endpoint.api is Api.CDP:
            return limits.cdp_batch_bytes
        if endpoint.name in ("v2_entity", "v2_batch"):
            return limits.v2_batch_bytes
        if endpoint.api is Api.APP:
            return self.config.max_body_bytes
        return self.config.track_v1_body_bytes

    # -- the request path ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, route: tuple[Endpoint | None, dict[str, str], Any],
               auth: bytes | None, strict: bool | None, body: bytes, too_large: int, loopback: bool) -> Any:  # fmt: skip
        """What to answer; ``too_large`` is the body size when it was discarded for being over the cap;
        ``strict`` is None when ``X-Strict-Mode`` has a value other than 1."""
        if self._control[CTL_RESET] != self._reset_generation:
            self._apply_reset()
        endpoint, params, known = route
        if endpoint is None:
            if known is ADMIN:
                return self.admin.handle(method, path, body, loopback, auth)
            return self._unmatched(method, path, known)
        e = self._endpoint_index[endpoint.name]
        api = self._api_index[endpoint.name]
        w = self._workspace(endpoint, api, auth)
        if not w:
            self.accounting.record(self.accounting.cell(self.auth.claimed_workspace(auth), e), UNAUTHORIZED)
            return self._cached(("401", endpoint.name), lambda: self._unauthorized(endpoint))
        base = self.accounting.cell(w, e)
        if strict is None:
            if endpoint.api is Api.CDP:
                self.accounting.record(base, INVALID, 0, 1)
                message = "X-Strict-Mode must be 1, or left out for the lenient mode"
                return json_response(400, cdp_error("invalid_header", message))
            strict = False  # the header means nothing to the other APIs
        if too_large:
            return self._too_large(endpoint, base, too_large, strict)
        latency = 0.0
        if self.faults.active or self._refresh_faults():
            spec = self.faults.spec_for(endpoint.name)
            if spec is not None:
                injected = self._inject(spec, endpoint, base)
                if injected is not None:
                    return injected
                latency = spec.latency()
        verdict, seconds = self.limiter.check(w, api, time.monotonic())
        req = Request(endpoint, params, w, self.workspace_names[w], body, strict, self.config.limits)
        if verdict:
            reply = self._over_limit(verdict, seconds, req, base, w, api)
            if reply is not None:
                return reply
            latency += seconds
        if latency > 0:
            return Delayed(latency, lambda: self._process(req, base))
        return self._process(req, base)

    def _workspace(self, endpoint: Endpoint, api: int, auth: bytes | None) -> int:
        """The workspace a call is for; 0 = unauthorized.

        Calls Customer.io takes without credentials (metrics, unsubscribe) count for the workspace
        their credentials name, if any, else the first one configured.
        """
        w = self.auth.workspace(api, auth)
        if w or endpoint.auth:
            return w
        return self.auth.claimed_workspace(auth) or 1

    def _process(self, req: Request, base: int) -> bytes:
        try:
            outcome, ok, bad, reply = self._handlers[req.endpoint.name](self, req)
        except (TypeError, ValueError, AttributeError, KeyError, RecursionError) as exc:
            # A value of a type validation did not expect (e.g. a list where a name belongs): still
            # the client's fault, so a 400 in the API's shape rather than a 500.
            outcome, ok, bad, reply = INVALID, 0, 1, self._wrong_type(req, exc)
        self.accounting.record(base, outcome, ok, bad)
        return reply

    def _wrong_type(self, req: Request, exc: Exception) -> bytes:
        message = f"request body has a value of the wrong type ({type(exc).__name__})"
        endpoint = req.endpoint
        if endpoint.api is Api.CDP and not req.strict:
            return EMPTY_OK
        return json_response(400, error_body(endpoint.api, endpoint.name, "invalid_type", [message]))

    @property
    def records_arrivals(self) -> bool:
        return self.arrivals is not None

    def arrived(self, delivery_id: Any) -> None:
        """Record that the call carrying ``delivery_id`` reached the sandbox (delivery accounting)."""
        if self.arrivals is not None and delivery_id is not None:
            self.arrivals.record(delivery_id)

    def event(self, req: Request, person: Any, name: str, kind: str, event_id: Any, data: Any) -> None:
        """Store one event unless its id was seen before (then count a duplicate)."""
        if event_id is not None and self.store.seen_before(req.workspace_name, event_id):
            self.accounting.duplicate(req.workspace)
            return
        self.store.event(req.workspace_name, person, name, kind, event_id, data, req.endpoint.name)

    # -- the ways a request is refused --------------------------------------------------------------

    def _cached(self, key: tuple[Any, ...], build: Callable[[], bytes]) -> bytes:
        reply = self._cache.get(key)
        if reply is None:
            reply = self._cache[key] = build()
        return reply

    def _unauthorized(self, endpoint: Endpoint) -> bytes:
        body = error_body(endpoint.api, endpoint.name, "unauthorized", [UNAUTHORIZED_MESSAGE])
        return json_response(401, body)

    def _unmatched(self, method: str, path: str, path_known: bool) -> bytes:
        self.accounting.record(self.accounting.cell(0, self._endpoint_index[UNMATCHED.name]), NOT_FOUND)
        api = Api.CDP if path.startswith("/v1/") and not path.startswith("/v1/send") else Api.TRACK
        if path_known:
            message = f"method {method} is not allowed on {path.split('?')[0]}"
            allow = f"Allow: {', '.join(self.router.methods(path))}\r\n".encode()
            body = error_body(api, "_unmatched", "method_not_allowed", [message])
            return json_response(405, body, headers=allow)
        message = f"no such endpoint: {method} {path.split('?')[0]}"
        return json_response(404, error_body(api, "_unmatched", "not_found", [message]))

    def declared_too_large(self, route: tuple[Endpoint | None, dict[str, str], Any], auth: bytes | None,
                           size: int) -> bytes:  # fmt: skip
        """The reply when ``Content-Length`` alone is over the global maximum (the body is never read)."""
        endpoint = route[0]
        message = f"request body cannot be larger than {self.config.max_body_bytes} bytes (declared {size})"
        if endpoint is None:
            cell = self.accounting.cell(0, self._endpoint_index[UNMATCHED.name])
            self.accounting.record(cell, TOO_LARGE)
            return json_response(413, {"error": message}, close=True)
        e = self._endpoint_index[endpoint.name]
        w = self._workspace(endpoint, self._api_index[endpoint.name], auth)
        if not w:
            self.accounting.record(self.accounting.cell(self.auth.claimed_workspace(auth), e), UNAUTHORIZED)
            return self._unauthorized(endpoint)
        self.accounting.record(self.accounting.cell(w, e), TOO_LARGE, 0, 1)
        return json_response(413, error_body(endpoint.api, endpoint.name, "too_large", [message]), close=True)

    def _too_large(self, endpoint: Endpoint, base: int, size: int, strict: bool) -> bytes:
        self.accounting.record(base, TOO_LARGE, 0, 1)
        cap = self.request_limit(endpoint)
        message = f"request body cannot be larger than {cap} bytes (got at least {size})"
        if endpoint.api is Api.CDP:
            return json_response(400, cdp_error("too_large", message)) if strict else EMPTY_OK
        status = 400 if endpoint.name in ("v2_entity", "v2_batch") else 413
        return json_response(status, error_body(endpoint.api, endpoint.name, "too_large", [message]))

    def _refresh_faults(self) -> bool:
        self.faults.refresh()
        return self.faults.active

    def _inject(self, spec: Any, endpoint: Endpoint, base: int) -> Any:
        kind, status = fault_kinds.decide(spec, time.time())
        if kind == fault_kinds.NONE:
            return None
        self.accounting.record(base, FAULT)
        if kind == fault_kinds.RESET:
            return RESET
        if kind == fault_kinds.HANG:
            return Hang(spec.hang_seconds)
        word = "outage" if kind == fault_kinds.OUTAGE else "injected fault"
        body = error_body(
            endpoint.api, endpoint.name, "server_error", [f"{word}: service unavailable ({status})"]
        )
        return json_response(status, body)

    def _over_limit(self, verdict: int, seconds: float, req: Request, base: int, w: int, api: int) -> Any:
        """The reply for a request past the limit, or None when it goes ahead after ``seconds``."""
        if verdict == DELAY:
            return None
        if verdict == DROP:
            self.accounting.record(base, DROPPED)
            if req.endpoint.api is Api.APP:
                return json_response(200, {"delivery_id": "dropped", "queued_at": int(time.time())})
            return EMPTY_OK
        policy = self.limiter.policy(w, api)
        limit = policy.limit
        if verdict == RL_BLOCKED:
            self.accounting.record(base, BLOCKED)
            message = (
                f"requests are blocked for {policy.block_seconds:g} s after sustained excess over the limit"
            )
            retry = seconds
        else:
            assert verdict == REJECT
            self.accounting.record(base, RATE_LIMITED)
            message = rate_limited_message(req.endpoint.api, limit.requests, limit.per_seconds)
            retry = max(policy.retry_after, seconds)
        headers = f"Retry-After: {max(1, round(retry))}\r\n".encode() if policy.retry_after else b""
        key = ("429", verdict, req.endpoint.name, w, headers)
        body = error_body(req.endpoint.api, req.endpoint.name, "rate_limited", [message])
        return self._cached(key, lambda: json_response(429, body, headers=headers))

    def _apply_reset(self) -> None:
        self._reset_generation = self._control[CTL_RESET]
        self.store.clear()

    def reset(self) -> None:
        """Zero counters and rate state and clear every process's store (each clears on its next request)."""
        self.shared.zero_counters()
        self.shared.zero_rate_state()
        if self.shared.ids is not None:
            self.shared.ids.clear()
        self._control[CTL_RESET] += 1
        self._apply_reset()
