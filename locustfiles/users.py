"""Locust users sending the traffic a Customer.io integration sends, one request per task.

Every user paces itself (``--user-rate``, or the arrival shape's per-user rate) so a shape that
sets a user count also sets a request rate. Requests are named by route (``Endpoint.stats_name``),
judged by :func:`locustfiles.responses.failure_kind`, and retried like the official SDKs when
``--retries`` is set (each attempt is its own request in the stats, as the server sees it).
"""

from __future__ import annotations

import gevent
from locust import FastHttpUser, tag, task

import base64
import time
from collections.abc import Callable
from typing import Any

import orjson

from cio_contract import CLIENT_BATCH_BYTES, Endpoint, endpoint
from locustfiles.acks import acks
from locustfiles.context import TrafficContext, traffic_context
from locustfiles.payloads import PayloadGenerator, delivery_ids
from locustfiles.responses import RETRY_STATUSES, backoff_seconds, failure_kind, retry_after_seconds
from locustfiles.schedule import arrival_per_user_rate

__all__ = [
    "AnonymousUser",
    "BatchUser",
    "CustomerIOUser",
    "IdentifyUser",
    "IntegrationUser",
    "Pacer",
    "PipelinesUser",
    "TrackUser",
    "TransactionalUser",
]

_IDENTIFY = endpoint("identify")
_TRACK = endpoint("track")
_ANONYMOUS = endpoint("track_anonymous")
_V2_BATCH = endpoint("v2_batch")
_SEND_EMAIL = endpoint("send_email")
_CDP_BATCH = endpoint("cdp_batch")
_SEGMENT = {True: endpoint("add_to_segment"), False: endpoint("remove_from_segment")}
_FORM = endpoint("submit_form")
_METRIC = {
    "push": endpoint("push_metrics"),
    "metric": endpoint("metrics"),
    "unsubscribe": endpoint("unsubscribe"),
}
_MESSAGES = (endpoint("send_whatsapp"), endpoint("send_inbox_message"), endpoint("send_in_app"))


class Pacer:
    """Spaces task starts ``1/rate`` apart, catching up after a slow response (open-model style).

    Unlike ``constant_throughput`` it remembers the schedule, so one slow request is made up for;
    when more than ``max_lag`` behind it starts afresh rather than bursting to catch up.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic, max_lag: float = 1.0):
        self.interval = 1.0 / rate
        self.clock = clock
        self.max_lag = max_lag
        self._next: float | None = None

    def wait(self) -> float:
        now = self.clock()
        self._next = (now if self._next is None else self._next) + self.interval
        if self._next < now - self.max_lag:
            self._next = now
        return max(0.0, self._next - now)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class CustomerIOUser(FastHttpUser):
    """Base of every traffic-model user: auth headers, payloads, pacing, response checks, retries."""

    abstract = True
    network_timeout = 10.0
    connection_timeout = 5.0

    def on_start(self) -> None:
        ctx: TrafficContext = traffic_context(self.environment)
        s = ctx.settings
        self.settings = s
        self.payloads = PayloadGenerator(
            ctx.pool, ctx.next_stream(), new_share=s.new_share, hot_share=s.hot_share,
            hot_fraction=s.hot_fraction, delivery_ids=s.delivery_ids,
        )  # fmt: skip
        self.acks = acks(self.environment)
        c = s.credentials
        json_type = {"Content-Type": "application/json"}
        self.track_headers = {**json_type, "Authorization": _basic(c.site_id, c.track_api_key)}
        self.app_headers = {**json_type, "Authorization": f"Bearer {c.app_api_key}"}
        self.cdp_headers = {**json_type, "Authorization": _basic(c.cdp_api_key, "")}
        # API clients (the official SDKs among them) keep no cookies; Locust's cookie jar would cost
        # two cookie-policy passes per request for nothing.
        self.client.client.cookiejar = None
        rate = arrival_per_user_rate(s) if s.shape == "arrival" else s.user_rate
        self.pacer = Pacer(rate)
        # Locust starts a batch of users in the same instant; without a random phase they would
        # stay in lockstep and hit the target in bursts no population of real clients produces.
        gevent.sleep(self.payloads.rng.uniform(0, self.pacer.interval))

    def wait_time(self) -> float:
        return self.pacer.wait()

    # Sending ------------------------------------------------------------------------------------
    def send(self, ep: Endpoint, path: str, data: bytes, headers: dict[str, str], base: str = "",
             ids: list[str] | None = None) -> int:  # fmt: skip
        """Send once, plus up to ``--retries`` SDK-style retries; return the last status.

        ``ids`` are the call's delivery ids: recorded as acknowledged when the target answers 2xx
        (on a 207, all but the operations its errors name).
        """
        status, retry_after, answer = 0, None, b""
        for attempt in range(self.settings.retries + 1):
            if attempt:
                gevent.sleep(self._backoff(attempt, retry_after))
            status, retry_after, answer = self._attempt(ep, base + path, data, headers)
            if status not in RETRY_STATUSES:
                break
        if ids and 200 <= status < 300:
            self.acks.add(i for i in (ids if status != 207 else _accepted_in_207(ids, answer)) if i)
        return status

    def _attempt(
        self, ep: Endpoint, url: str, data: bytes, headers: dict[str, str]
    ) -> tuple[int, float | None, bytes]:
        with self.client.request(
            # bytes are sent as-is (the annotation says str, geventhttpclient takes both)
            ep.method,
            url,
            name=ep.stats_name,
            data=data,  # type: ignore[arg-type]
            headers=headers,
            catch_response=True,
        ) as response:
            status = response.status_code or 0
            kind = failure_kind(status, getattr(response, "error", None))
            if kind is None:
                response.success()
                return status, None, (response.content or b"") if status == 207 else b""
            response.failure(kind)
            return status, retry_after_seconds(response.headers) if status else None, b""

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        return backoff_seconds(attempt, self.payloads.rng, self.settings.retry_cap, retry_after)

    # Actions (one request each) -----------------------------------------------------------------
    def do_identify(self) -> None:
        person_id, body = self.payloads.identify()
        self.send(_IDENTIFY, f"/api/v1/customers/{person_id}", orjson.dumps(body), self.track_headers,
                  ids=delivery_ids("identify", body))  # fmt: skip

    def do_track(self, kind: str = "event") -> None:
        person_id, body = self.payloads.event(kind)
        self.send(_TRACK, f"/api/v1/customers/{person_id}/events", orjson.dumps(body), self.track_headers,
                  ids=[body["id"]])  # fmt: skip

    def do_anonymous(self) -> None:
        body = self.payloads.anonymous_event()
        self.send(_ANONYMOUS, "/api/v1/events", orjson.dumps(body), self.track_headers, ids=[body["id"]])

    def do_batch(self) -> None:
        data, body = _under_limit(self.payloads.v2_batch(self.settings.batch_size))
        self.send(_V2_BATCH, "/api/v2/batch", data, self.track_headers, ids=delivery_ids("v2_batch", body))

    def do_transactional(self) -> None:
        body = self.payloads.transactional_email()
        self.send(_SEND_EMAIL, "/v1/send/email", orjson.dumps(body), self.app_headers,
                  self._base(self.settings.app_host), ids=delivery_ids("send_email", body))  # fmt: skip

    def do_pipelines(self) -> None:
        data, body = _under_limit(self.payloads.cdp_batch(self.settings.batch_size))
        self.send(_CDP_BATCH, "/v1/batch", data, self.cdp_headers, self._base(self.settings.cdp_host),
                  ids=delivery_ids("cdp_batch", body))  # fmt: skip

    def do_segment(self) -> None:
        segment_id, body = self.payloads.segment_ids()
        ep = _SEGMENT[self.payloads.rng.random() < 0.75]
        path = ep.path.replace("{segment_id}", segment_id)
        self.send(ep, path, orjson.dumps(body), self.track_headers)

    def do_form(self) -> None:
        form_id, body = self.payloads.form_submission()
        self.send(_FORM, f"/api/v1/forms/{form_id}/submit", orjson.dumps(body), self.track_headers)

    def do_metric(self) -> None:
        kind, delivery_id, body = self.payloads.delivery_metric()
        ep = _METRIC[kind]
        # push/events takes Track credentials; metrics and unsubscribe take none (reference section 1).
        headers = self.track_headers if ep.auth else _JSON_ONLY
        self.send(ep, ep.path.replace("{delivery_id}", delivery_id), orjson.dumps(body), headers)

    def do_message(self) -> None:
        ep = self.payloads.rng.choice(_MESSAGES)
        data = orjson.dumps(self.payloads.message())
        self.send(ep, ep.path, data, self.app_headers, self._base(self.settings.app_host))

    def _base(self, api_host: str) -> str:
        # Same host as --host: a relative path keeps FastHttpUser's connection pool and host header.
        return "" if not api_host or api_host == self.settings.host.rstrip("/") else api_host


_JSON_ONLY = {"Content-Type": "application/json"}


def _under_limit(body: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """Serialise a batch, dropping operations until it is under the client batch size."""
    data = orjson.dumps(body)
    while len(data) >= CLIENT_BATCH_BYTES and len(body["batch"]) > 1:
        keep = max(1, len(body["batch"]) * CLIENT_BATCH_BYTES // len(data) - 1)
        body = {**body, "batch": body["batch"][:keep]}
        data = orjson.dumps(body)
    return data, body


def _accepted_in_207(ids: list[str], answer: bytes) -> list[str]:
    """The ids of a v2 batch a 207 accepted: every operation its errors do not name by ``batch_index``."""
    try:
        errors = orjson.loads(answer).get("errors") or []
        failed = {e.get("batch_index") for e in errors if isinstance(e, dict)}
    except (orjson.JSONDecodeError, AttributeError):
        return []  # an answer we cannot read: claim nothing
    return [i for n, i in enumerate(ids) if n not in failed]


class IdentifyUser(CustomerIOUser):
    """Creates and updates people: ``PUT /api/v1/customers/{id}``."""

    weight = 3

    @tag("identify")
    @task
    def identify(self) -> None:
        self.do_identify()


class TrackUser(CustomerIOUser):
    """Tracks events, page views and screen views for identified people."""

    weight = 6

    @tag("track")
    @task(6)
    def track_event(self) -> None:
        self.do_track("event")

    @tag("page")
    @task(2)
    def track_page(self) -> None:
        self.do_track("page")

    @tag("screen")
    @task(1)
    def track_screen(self) -> None:
        self.do_track("screen")


class AnonymousUser(CustomerIOUser):
    """Visitors not yet identified: ``POST /api/v1/events`` with an ``anonymous_id``."""

    weight = 1

    @tag("anonymous")
    @task
    def anonymous_event(self) -> None:
        self.do_anonymous()


class BatchUser(CustomerIOUser):
    """Bulk sender: ``POST /api/v2/batch`` with ``--batch-size`` operations (under 475,000 bytes)."""

    weight = 1

    @tag("batch")
    @task
    def v2_batch(self) -> None:
        self.do_batch()


class TransactionalUser(CustomerIOUser):
    """Transactional email through the App API (Bearer auth): ``POST /v1/send/email``."""

    weight = 1

    @tag("transactional")
    @task
    def send_email(self) -> None:
        self.do_transactional()


class PipelinesUser(CustomerIOUser):
    """A Data Pipelines library flushing its queue: ``POST /v1/batch`` of identify/track/page calls."""

    weight = 1

    @tag("pipelines")
    @task
    def cdp_batch(self) -> None:
        self.do_pipelines()


class IntegrationUser(CustomerIOUser):
    """A whole integration in one user: actions drawn by the ``--mix`` ratios, one request each."""

    weight = 3

    def on_start(self) -> None:
        super().on_start()
        actions: dict[str, Callable[[], None]] = {
            "identify": self.do_identify, "track": self.do_track,
            "page": lambda: self.do_track("page"), "screen": lambda: self.do_track("screen"),
            "anonymous": self.do_anonymous, "batch": self.do_batch,
            "transactional": self.do_transactional, "pipelines": self.do_pipelines,
            "segment": self.do_segment, "form": self.do_form, "metric": self.do_metric,
            "message": self.do_message,
        }  # fmt: skip
        mix = {name: weight for name, weight in self.settings.mix.items() if weight > 0}
        self._actions = [actions[name] for name in mix]
        self._weights = list(mix.values())

    @tag("integration")
    @task
    def step(self) -> None:
        self.payloads.rng.choices(self._actions, self._weights)[0]()
