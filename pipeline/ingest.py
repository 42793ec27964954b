"""The ingest service: a Track-API-compatible front door that keeps every accepted call in Kafka.

Same paths and Basic auth as Customer.io's Track API (v1 customers/events/devices/merge, v2 entity
and batch), validated by ``cio_contract`` with the same 400/207 bodies. A call is answered 200 only
after the broker acknowledged it; a full producer queue, an unreachable broker or a process over its
memory bound answers 503 with ``Retry-After`` instead, so nothing is accepted that is not kept.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from typing import Any

import orjson
from aiohttp import web
from ulid import ULID

from cio_contract import (
    UNAUTHORIZED_MESSAGE,
    Api,
    Router,
    Violation,
    error_body,
    v2_errors,
    validate_v1,
    validate_v2_batch,
    validate_v2_operation,
)
from pipeline.config import IngestConfig
from pipeline.envelope import Envelope, is_event, person_key
from pipeline.kafka import AsyncProducer, KafkaUnavailable, producer_settings
from pipeline.memory import MemoryGuard
from pipeline.metrics import CONTENT_TYPE, IngestMetrics

__all__ = ["IngestService", "build_app"]

log = logging.getLogger("pipeline.ingest")
_ACCEPTED_ENDPOINTS = frozenset(
    {"identify", "delete", "track", "track_anonymous", "add_device", "delete_device", "suppress",
     "unsuppress", "merge_customers", "v2_entity", "v2_batch", "region", "add_to_segment",
     "remove_from_segment", "submit_form", "push_metrics", "metrics", "unsubscribe"}
)  # fmt: skip


_STAMPED_ACTIONS = frozenset({"identify", "event", "page", "screen"})


class _Invalid(Exception):
    def __init__(self, body: dict[str, Any]):
        self.body = body


class IngestService:
    def __init__(
        self, config: IngestConfig, producer: AsyncProducer, metrics: IngestMetrics, guard: MemoryGuard
    ):
        self.config = config
        self.producer = producer
        self.metrics = metrics
        self.guard = guard
        self.router = Router()
        self._auth = {
            "Basic " + base64.b64encode(f"{w.site_id}:{w.track_api_key}".encode()).decode(): w.site_id
            for w in config.workspaces
        }

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/metrics":
            self.metrics.queue.set(self.producer.queued())
            return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})
        if request.path == "/health":
            return web.json_response({"status": "ok"})
        response = await self._track_call(request)
        self.metrics.requests.labels(str(response.status)).inc()
        return response

    async def _track_call(self, request: web.Request) -> web.Response:
        endpoint, params, known = self.router.match(request.method, request.path)
        if endpoint is None or endpoint.name not in _ACCEPTED_ENDPOINTS:
            self.metrics.events.labels("not_found").inc()
            wrong_method = endpoint is None and known
            status = 405 if wrong_method else 404
            message = (
                "method not allowed" if wrong_method else "the ingest service serves only Track API paths"
            )
            return web.json_response({"meta": {"error": message}}, status=status)
        workspace = self._workspace(request)
        if workspace is None and not endpoint.auth:
            # Taken without credentials (metrics, unsubscribe): kept for the first workspace, whose
            # sender replays it, as Customer.io would take it from anyone.
            workspace = self.config.workspaces[0].site_id
        if workspace is None:
            self.metrics.events.labels("unauthorized").inc()
            return _json(401, error_body(Api.TRACK, endpoint.name, "unauthorized", [UNAUTHORIZED_MESSAGE]))
        if endpoint.name == "region":
            return _json(200, {"url": str(request.url.origin()), "region": "us", "environment_id": workspace})
        raw = await request.read()
        try:
            envelopes = self._envelopes(workspace, endpoint.name, request, params, raw)
        except _Invalid as exc:
            self.metrics.events.labels("invalid").inc()
            return _json(400, exc.body)
        response = await self._keep(envelopes)
        if response.status == 200 and endpoint.ok_status == 204:
            return web.Response(status=204)
        return response

    def _workspace(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        site = self._auth.get(header)
        if site is None and header.startswith("Basic "):
            try:  # tolerate re-encoded but equal credentials
                decoded = base64.b64decode(header[6:], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            site = self._auth.get("Basic " + base64.b64encode(decoded.encode()).decode())
        return site

    def _envelopes(self, workspace: str, name: str, request: web.Request, params: dict[str, str],
                   raw: bytes) -> tuple[list[Envelope], list[tuple[int, Violation]]]:  # fmt: skip
        body = _parse(raw, name)
        now = int(time.time() * 1000)
        if name in ("v2_entity", "v2_batch"):
            return self._v2(workspace, name, body, raw, now)
        problems = validate_v1(name, params, body, self.config.limits)
        if problems:
            raise _Invalid(error_body(Api.TRACK, name, "invalid", [p.message for p in problems]))
        event_id = None
        # The queue delays delivery, and Customer.io stamps a call without a time on receipt; stamp it
        # on receipt here so event times and the order of rapid updates survive the queue.
        if is_event(name, body):
            body.setdefault("id", str(ULID()))
            body.setdefault("timestamp", now // 1000)
            event_id = body["id"]
        elif name == "identify":
            body.setdefault("_timestamp", now // 1000)
        env = Envelope(workspace, name, request.method, request.path, params, body, event_id, now)
        return [env], []

    def _v2(self, workspace: str, name: str, body: Any, raw: bytes,
            now: int) -> tuple[list[Envelope], list[tuple[int, Violation]]]:  # fmt: skip
        limits = self.config.limits
        if name == "v2_entity":
            if len(raw) > limits.v2_entity_bytes:
                problem = Violation(
                    f"request cannot be larger than {limits.v2_entity_bytes} bytes", "", "too_large"
                )
                raise _Invalid(v2_errors([(None, problem)]))
            problems = validate_v2_operation(body, limits, size=len(raw))
            if problems:
                raise _Invalid(v2_errors((None, p) for p in problems))
            ops, errors = [body], []
        else:
            result = validate_v2_batch(body, len(raw), limits)
            if result.request_error:
                raise _Invalid(v2_errors([*result.errors] or [(None, result.request_error)]))
            bad = {i for i, _ in result.errors}
            ops, errors = [op for i, op in enumerate(body["batch"]) if i not in bad], result.errors
        envelopes = []
        for op in ops:
            event_id = None
            if is_event("v2_op", op):
                op.setdefault("id", str(ULID()))
                event_id = op["id"]
            if op.get("type") == "person" and op.get("action") in _STAMPED_ACTIONS:
                op.setdefault("timestamp", now // 1000)
            envelopes.append(Envelope(workspace, "v2_op", "POST", "/api/v2/batch", {}, op, event_id, now))
        return envelopes, errors

    async def _keep(self, parsed: tuple[list[Envelope], list[tuple[int, Violation]]]) -> web.Response:
        envelopes, errors = parsed
        if self.guard.over():
            return self._unavailable(len(envelopes), "memory bound reached")
        messages = [(person_key(e.endpoint, e.params, e.body).encode(), e.encode()) for e in envelopes]
        try:
            await self.producer.produce_many(self.config.kafka.topic, messages, self.config.delivery_timeout)
        except (TimeoutError, KafkaUnavailable) as exc:
            return self._unavailable(len(envelopes), str(exc) or "broker did not acknowledge in time")
        self.metrics.events.labels("accepted").inc(len(envelopes))
        if errors:
            self.metrics.events.labels("invalid").inc(len({i for i, _ in errors}))
            return _json(207, v2_errors(errors))
        return web.Response(body=b"{}", content_type="application/json")

    def _unavailable(self, count: int, why: str) -> web.Response:
        self.metrics.events.labels("unavailable").inc(max(count, 1))
        log.warning("answering 503: %s", why)
        body = {"meta": {"error": f"ingest cannot keep this call now ({why}); retry later"}}
        return _json(503, body, {"Retry-After": str(self.config.retry_after)})


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


def _parse(raw: bytes, name: str) -> Any:
    if not raw and name not in ("v2_entity", "v2_batch", "merge_customers"):
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        message = "request body must be valid UTF-8 JSON"
        if name in ("v2_entity", "v2_batch"):
            raise _Invalid(v2_errors([(None, Violation(message, "", "invalid_json"))])) from None
        raise _Invalid(error_body(Api.TRACK, name, "invalid_json", [message])) from None


def build_app(service: IngestService) -> web.Application:
    app = web.Application(client_max_size=service.config.limits.v2_batch_bytes + 64 * 1024)
    app.router.add_route("*", "/{tail:.*}", service.handle)
    return app


async def serve(config: IngestConfig) -> None:
    """Run until SIGTERM/SIGINT; write the ready file once listening."""
    from pipeline.runtime import listen, wait_for_stop

    loop = asyncio.get_running_loop()
    metrics = IngestMetrics()
    settings = producer_settings(config.kafka.bootstrap_servers, config.queue_messages, config.queue_kbytes,
                                 config.delivery_timeout)  # fmt: skip
    producer = AsyncProducer(settings, loop, config.queue_messages)
    guard = MemoryGuard(config.max_rss_mb, metrics.rss)
    guard.start()
    service = IngestService(config, producer, metrics, guard)
    runner = await listen(
        build_app(service), config.host, config.port, config.ready_file, config.ssl_context()
    )
    try:
        await wait_for_stop()
    finally:
        await runner.cleanup()
        guard.stop()
        await loop.run_in_executor(None, producer.close)
