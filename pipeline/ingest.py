"""The ingest service: a Track-API-compatible front door that keeps every accepted call in Kafka.

Same paths and Basic auth as Customer.io's Track API (v1 customers/events/devices/merge, v2 entity
and batch), validated by ``cio_contract`` with the same 400/207 bodies. A call is answered 200 only
after the broker acknowledged it; a full producer queue, an unreachable broker or a process over its
memory bound answers 503 with ``Retry-After`` instead, so nothing is accepted that is not kept.

It is served by ``httpserver`` (httptools on uvloop, like the sandbox): every answer, the server's
own parse and limit errors included, carries the Track API's JSON error shape for the path asked.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from typing import Any

import orjson

from cio_contract import (
    ENDPOINTS,
    UNAUTHORIZED_MESSAGE,
    Api,
    Limits,
    Router,
    Violation,
    error_body,
    v2_errors,
    validate_v1,
    validate_v2_batch,
    validate_v2_operation,
)
from cio_contract.openapi import openapi_document as contract_document
from cio_contract.schemas import BODILESS
from httpserver import EMPTY_OK, HttpServer, Pending, Request, json_response, raw_response
from pipeline.config import IngestConfig
from pipeline.envelope import Envelope, is_event, person_key
from pipeline.ids import UlidSource
from pipeline.kafka import (
    ANY_PARTITION,
    AsyncProducer,
    KafkaUnavailable,
    Message,
    partition_of,
    producer_settings,
)
from pipeline.memory import MemoryGuard
from pipeline.metrics import CONTENT_TYPE, IngestMetrics

__all__ = ["IngestService", "openapi_document", "serve"]

log = logging.getLogger("pipeline.ingest")
_ACCEPTED_ENDPOINTS = frozenset(
    {"identify", "delete", "track", "track_anonymous", "add_device", "delete_device", "suppress",
     "unsuppress", "merge_customers", "v2_entity", "v2_batch", "region", "add_to_segment",
     "remove_from_segment", "submit_form", "push_metrics", "metrics", "unsubscribe"}
)  # fmt: skip
_V2 = ("v2_entity", "v2_batch")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
_STAMPED_ACTIONS = frozenset({"identify", "event", "page", "screen"})
_EVENT_ACTIONS = frozenset({"event", "page", "screen"})  # v2 operations that carry an event id
_METRICS_CONTENT_TYPE = CONTENT_TYPE.encode()
# Track v1 has no documented request cap (UNCONFIRMED); the sandbox's default is the same.
V1_BODY_BYTES = 1024 * 1024
_NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


class _Invalid(Exception):
    def __init__(self, body: dict[str, Any]):
        self.body = body


class IngestService:
    """The ``httpserver.Application``: routes on the headers, validates, produces, answers."""

    def __init__(
        self, config: IngestConfig, producer: AsyncProducer, metrics: IngestMetrics, guard: MemoryGuard
    ):
        self.config = config
        self.producer = producer
        self.metrics = metrics
        self.guard = guard
        self.router = Router()
        self.scheme = "https" if config.tls_cert else "http"
        self._auth = {
            b"Basic " + base64.b64encode(f"{w.site_id}:{w.track_api_key}".encode()): w.site_id
            for w in config.workspaces
        }
        self._outcomes = {o: metrics.events.labels(o) for o in
                          ("accepted", "invalid", "unauthorized", "unavailable", "not_found", "too_large")}  # fmt: skip
        self._statuses: dict[int, Any] = {}
        self._ids = UlidSource()
        self._unavailable_logged = 0.0

    # -- httpserver.Application -------------------------------------------------------------------

    def head(self, request: Request) -> bytes | None:
        """Route on the headers; a body declared over the endpoint's cap is refused unread."""
        path = request.target.split("?", 1)[0]
        route = request.context = (path, *self.router.match(request.method, path))
        name = route[1].name if route[1] is not None else "_unmatched"
        limit = self._body_limit(name)
        # For v2 one byte over is still read, so validation answers with the contract's own message.
        request.body_cap = limit + 1 if name in _V2 else limit
        if request.content_length > request.body_cap:
            self._outcomes["too_large"].inc()
            message = f"request body cannot be larger than {limit} bytes (declared {request.content_length})"
            return self._answer(413, error_body(Api.TRACK, name, "too_large", [message]), close=True)
        return None

    def respond(self, request: Request) -> Any:
        path, endpoint, params, known = request.context
        if path == "/metrics":
            self.metrics.queue.set(self.producer.queued())
            return raw_response(200, self.metrics.render(), content_type=_METRICS_CONTENT_TYPE)
        if path == "/health":
            return json_response(200, {"status": "ok"})
        if endpoint is None or endpoint.name not in _ACCEPTED_ENDPOINTS:
            return self._unmatched(request.method, path, endpoint is None and known)
        name = endpoint.name
        workspace = self._workspace(request.headers.get(b"authorization"))
        if workspace is None and not endpoint.auth:
            # Taken without credentials (metrics, unsubscribe): kept for the first workspace, whose
            # sender replays it, as Customer.io would take it from anyone.
            workspace = self.config.workspaces[0].site_id
        if workspace is None:
            self._outcomes["unauthorized"].inc()
            return self._answer(401, error_body(Api.TRACK, name, "unauthorized", [UNAUTHORIZED_MESSAGE]))
        if name == "region":
            host = request.headers.get(b"host", b"").decode("latin-1")
            return self._answer(
                200, {"url": f"{self.scheme}://{host}", "region": "us", "environment_id": workspace}
            )
        if request.discarded:
            self._outcomes["too_large"].inc()
            message = (
                f"request body cannot be larger than {self._body_limit(name)} bytes (got {request.discarded})"
            )
            return self._answer(
                400 if name in _V2 else 413, error_body(Api.TRACK, name, "too_large", [message])
            )
        try:
            if request.body_error is not None:
                raise _Invalid(error_body(Api.TRACK, name, "invalid_encoding", [request.body_error]))
            parsed = self._messages(workspace, name, request.method, path, params, request.body)
        except _Invalid as exc:
            self._outcomes["invalid"].inc()
            return self._answer(400, exc.body)
        except (TypeError, ValueError, AttributeError, KeyError, RecursionError) as exc:
            # A value of a type validation did not expect (a list where an object belongs): still the
            # client's fault, so a 400 in the API's shape rather than a 500 (as the sandbox answers).
            self._outcomes["invalid"].inc()
            message = f"request body has a value of the wrong type ({type(exc).__name__})"
            return self._answer(400, error_body(Api.TRACK, name, "invalid_type", [message]))
        return self._keep(name, *parsed, no_content=endpoint.ok_status == 204)

    def error_body(self, status: int, message: str, target: str) -> bytes:
        """The server's own errors (malformed request, limits) in the Track API's shape for ``target``."""
        self._count(status)
        name = "v2_batch" if target.startswith("/api/v2/") else "_unmatched"
        return orjson.dumps(error_body(Api.TRACK, name, "invalid_request", [message]))

    # -- the request path ---------------------------------------------------------------------------

    def _body_limit(self, name: str) -> int:
        limits = self.config.limits
        if name == "v2_batch":
            return limits.v2_batch_bytes
        if name == "v2_entity":
            return limits.v2_entity_bytes
        return V1_BODY_BYTES

    def _unmatched(self, method: str, path: str, wrong_method: bool) -> bytes:
        self._outcomes["not_found"].inc()
        name = "v2_batch" if path.startswith("/api/v2/") else "_unmatched"
        if wrong_method:
            allowed = [m for m in _METHODS if self._accepts(m, path)]
            if allowed:
                message = f"method {method} is not allowed on {path}"
                body = error_body(Api.TRACK, name, "method_not_allowed", [message])
                return self._answer(405, body, headers=b"Allow: " + ", ".join(allowed).encode() + b"\r\n")
        message = f"no such endpoint: {method} {path} (the ingest service serves only Track API paths)"
        return self._answer(404, error_body(Api.TRACK, name, "not_found", [message]))

    def _accepts(self, method: str, path: str) -> bool:
        endpoint = self.router.match(method, path)[0]
        return endpoint is not None and endpoint.name in _ACCEPTED_ENDPOINTS

    def _workspace(self, header: bytes | None) -> str | None:
        if header is None:
            return None
        site = self._auth.get(header)
        if site is None and header.startswith(b"Basic "):
            try:  # tolerate re-encoded but equal credentials
                decoded = base64.b64decode(header[6:], validate=True).decode()
            except (binascii.Error, ValueError):  # not base64, not UTF-8
                return None
            site = self._auth.get(b"Basic " + base64.b64encode(decoded.encode()))
        return site

    def _messages(self, workspace: str, name: str, method: str, path: str, params: dict[str, str],
                   raw: bytes) -> tuple[list[Message], int, list[tuple[int, Violation]]]:  # fmt: skip
        """The call's Kafka messages, the number of events they hold, and a v2 batch's rejected ops."""
        body = _parse(raw, name)
        now = int(time.time() * 1000)
        if name in _V2:
            return self._v2(workspace, name, body, raw, now)
        problems = validate_v1(name, params, body, self.config.limits)
        if problems:
            raise _Invalid(error_body(Api.TRACK, name, "invalid", [p.message for p in problems]))
        event_id = None
        # The queue delays delivery, and Customer.io stamps a call without a time on receipt; stamp it
        # on receipt here so event times and the order of rapid updates survive the queue.
        if is_event(name, body):
            event_id = body.setdefault("id", self._ids.take(1, now)[0])
            body.setdefault("timestamp", now // 1000)
        elif name == "identify":
            body.setdefault("_timestamp", now // 1000)
        value = Envelope.encode_call(workspace, name, method, path, params, body, event_id, now)
        return [(person_key(name, params, body).encode(), value, ANY_PARTITION)], 1, []

    def _v2(self, workspace: str, name: str, body: Any, raw: bytes,
            now: int) -> tuple[list[Message], int, list[tuple[int, Violation]]]:  # fmt: skip
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
        ids = self._ids.take(len(ops), now)
        stamp = now // 1000
        # One message per partition the call's people map to (as a v1 call for them would), not one
        # per operation: a message costs far more to produce and acknowledge than its bytes.
        partitions = self.producer.partitions(self.config.kafka.topic)
        groups: dict[int, tuple[bytes, list[Any], list[str | None]]] = {}
        for op, fresh_id in zip(ops, ids, strict=True):
            action = op.get("action")
            event_id = op.setdefault("id", fresh_id) if action in _EVENT_ACTIONS else None
            if action in _STAMPED_ACTIONS and op.get("type") == "person":
                op.setdefault("timestamp", stamp)
            identifiers = op.get("identifiers")
            if type(identifiers) is dict and identifiers and "object_id" not in identifiers:
                key = str(next(iter(identifiers.values()))).encode()  # person_key, inlined
            else:
                key = person_key("v2_op", {}, op).encode()
            partition = partition_of(key, partitions) if partitions else ANY_PARTITION
            group = groups.get(partition)
            if group is None:
                groups[partition] = (key, [op], [event_id])
            else:
                group[1].append(op)
                group[2].append(event_id)
        messages = [
            (key, Envelope.encode_operations(workspace, group_ops, group_ids, now), partition)
            for partition, (key, group_ops, group_ids) in groups.items()
        ]
        return messages, len(ops), errors

    def _keep(self, name: str, messages: list[Message], events: int, errors: list[tuple[int, Violation]],
              no_content: bool = False) -> Any:  # fmt: skip
        """Produce the call's messages; the reply is resolved once the broker has them (or cannot)."""
        if self.guard.over():
            return self._unavailable(name, events, "memory bound reached")
        reply = Pending()

        def kept(exc: BaseException | None) -> None:
            reply.resolve(self._kept(exc, name, events, errors, no_content))

        try:
            self.producer.produce_then(self.config.kafka.topic, messages, self.config.delivery_timeout, kept)
        except KafkaUnavailable as exc:
            return self._unavailable(name, events, str(exc))
        return reply

    def _kept(self, exc: BaseException | None, name: str, count: int, errors: list[tuple[int, Violation]],
              no_content: bool) -> bytes:  # fmt: skip
        if exc is not None:
            return self._unavailable(name, count, str(exc) or "broker did not acknowledge in time")
        self._outcomes["accepted"].inc(count)
        if errors:
            self._outcomes["invalid"].inc(len({i for i, _ in errors}))
            return self._answer(207, v2_errors(errors))
        if no_content:  # the endpoint answers 204 at Customer.io (metrics, unsubscribe)
            self._count(204)
            return _NO_CONTENT
        self._count(200)
        return EMPTY_OK

    def _unavailable(self, name: str, count: int, why: str) -> bytes:
        self._outcomes["unavailable"].inc(max(count, 1))
        now = time.monotonic()
        if now - self._unavailable_logged > 1.0:  # one line a second, not one per request
            self._unavailable_logged = now
            log.warning("answering 503: %s", why)
        message = f"ingest cannot keep this call now ({why}); retry later"
        retry = f"Retry-After: {self.config.retry_after}\r\n".encode()
        return self._answer(503, error_body(Api.TRACK, name, "unavailable", [message]), headers=retry)

    def _answer(self, status: int, body: Any, headers: bytes = b"", close: bool = False) -> bytes:
        self._count(status)
        return json_response(status, body, headers=headers, close=close)

    def _count(self, status: int) -> None:
        counter = self._statuses.get(status)
        if counter is None:
            counter = self._statuses[status] = self.metrics.requests.labels(str(status))
        counter.inc()


def openapi_document(limits: Limits) -> dict[str, Any]:
    """The OpenAPI document of what ingest serves: its Track subset of the contract, plus its 503."""
    endpoints = [e for e in ENDPOINTS if e.name in _ACCEPTED_ENDPOINTS]
    description = ("The pipeline's ingest service: Customer.io's Track API (v1 and v2) answered 200 only "
                   "once the call is kept in Kafka; 503 with Retry-After when it cannot keep it now.")  # fmt: skip
    return contract_document(endpoints, "Customer.io load-scale ingest", description, limits,
                             {"503": "Cannot keep the call now (broker, queue or memory bound); retry later"})  # fmt: skip


def _parse(raw: bytes, name: str) -> Any:
    if not raw and name in BODILESS:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        message = "request body must be valid UTF-8 JSON"
        if name in _V2:
            raise _Invalid(v2_errors([(None, Violation(message, "", "invalid_json"))])) from None
        raise _Invalid(error_body(Api.TRACK, name, "invalid_json", [message])) from None


async def serve(config: IngestConfig) -> None:
    """Run until SIGTERM/SIGINT; write the ready file once listening."""
    from pipeline.runtime import announce, wait_for_stop
    from pipeline.startup import require_broker

    await require_broker(config.kafka.bootstrap_servers, config.startup_timeout)
    loop = asyncio.get_running_loop()
    metrics = IngestMetrics()
    settings = producer_settings(config.kafka.bootstrap_servers, config.queue_messages, config.queue_kbytes,
                                 config.delivery_timeout)  # fmt: skip
    producer = AsyncProducer(settings, loop, config.queue_messages)
    await _look_up_partitions(producer, config.kafka.topic)
    partitions = asyncio.ensure_future(_follow_partitions(producer, config.kafka.topic))
    guard = MemoryGuard(config.max_rss_mb, metrics.rss)
    guard.start()
    service = IngestService(config, producer, metrics, guard)
    server = HttpServer(service, loop, config.server_limits)
    ssl_context = config.ssl_context()
    listening = await server.listen(host=config.bind, port=config.port, ssl_context=ssl_context)
    announce(config.bind, listening.sockets[0].getsockname()[1], config.ready_file, ssl_context is not None)
    try:
        await wait_for_stop()
    finally:
        server.close()
        partitions.cancel()
        guard.stop()
        producer.close()


async def _look_up_partitions(producer: AsyncProducer, topic: str) -> None:
    if not await asyncio.get_running_loop().run_in_executor(None, producer.look_up_partitions, topic):
        log.warning("topic %s not found: a v2 call goes as one message, to the partition of its first "
                    "person, until it exists", topic)  # fmt: skip


async def _follow_partitions(producer: AsyncProducer, topic: str, interval: float = 30.0) -> None:
    """Keep the topic's partition count current (a topic can grow), asking the broker off the loop."""
    while True:
        await asyncio.sleep(interval)
        await _look_up_partitions(producer, topic)
