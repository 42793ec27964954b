"""Prometheus metrics of the ingest and sender processes (names agreed in the team brief).

Each process builds its own registry at startup (nothing is registered at import time), and serves it
on ``/metrics``. ``pipeline_consumer_lag`` per partition is the autoscaler's input.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

__all__ = ["IngestMetrics", "SenderMetrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_DELAY_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1,
    1.5,
    2,
    3,
    5,
    7.5,
    10,
    20,
    30,
    60,
    120,
)


class CountedHistogram:
    """A histogram that takes ``count`` equal observations in one call (prometheus_client's takes
    one at a time: once per delivered event, a tenth of a sender's CPU per event). One thread only."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...],
                 registry: CollectorRegistry) -> None:  # fmt: skip
        self._name = name
        self._documentation = documentation
        self._bounds = [*buckets, math.inf]
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        registry.register(self)

    def observe(self, value: float) -> None:
        self.observe_many(value, 1)

    def observe_many(self, value: float, count: int) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += count
        self._sum += value * count

    def collect(self) -> Iterator[Metric]:
        cumulative, buckets = 0, []
        for bound, count in zip(self._bounds, self._counts, strict=True):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        yield HistogramMetricFamily(self._name, self._documentation, buckets=buckets, sum_value=self._sum)


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("pipeline_ingest_events", "Calls (v2 operations count one each) by outcome: "
                              "accepted, invalid, unauthorized, unavailable, not_found", ["outcome"],
                              registry=r)  # fmt: skip
        self.requests = Counter("pipeline_ingest_requests", "HTTP requests by status", ["status"], registry=r)
        self.queue = Gauge(
            "pipeline_ingest_producer_queue", "Messages waiting in the producer queue", registry=r
        )
        self.rss = Gauge("pipeline_process_rss_bytes", "Resident memory of this process", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class SenderMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.delivered = Counter(
            "pipeline_sender_events_delivered", "Events accepted by the target", registry=r
        )
        self.requests = Counter("pipeline_sender_requests", "Requests to the target by HTTP status "
                                "(or timeout / connection_error)", ["status"], registry=r)  # fmt: skip
        self.retries = Counter(
            "pipeline_sender_retries", "Requests repeated after 429/5xx/timeout", registry=r
        )
        self.dead_letters = Counter("pipeline_sender_dead_letters", "Events sent to the dead-letter topic",
                                    ["reason"], registry=r)  # fmt: skip
        self.limiter_wait = Histogram("pipeline_sender_limiter_wait_seconds", "Wait for a rate-limit slot",
                                      buckets=(0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                                      registry=r)  # fmt: skip
        self.window_waits = Counter("pipeline_sender_limiter_window_waits", "Grants held back because "
                                    "the limit's window may already hold its share of arrivals "
                                    "(slow answers)", registry=r)  # fmt: skip
        self.limiter_idle = Counter("pipeline_sender_limiter_idle_seconds", "Time the workspace's "
                                    "request spacing went unused before this sender's grants (no "
                                    "request was waiting for it)", registry=r)  # fmt: skip
        self.batch_ops = Histogram("pipeline_sender_batch_operations", "Operations per request",
                                   buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), registry=r)  # fmt: skip
        self.delay = CountedHistogram("pipeline_end_to_end_seconds", "Ingest to delivery, per event",
                                      _DELAY_BUCKETS, r)  # fmt: skip
        self.lag = Gauge("pipeline_consumer_lag", "Messages behind the partition end", ["topic", "partition"],
                         registry=r)  # fmt: skip
        self.assigned = Gauge(
            "pipeline_sender_assigned_partitions", "Partitions this sender owns", registry=r
        )
        self.inflight_events = Gauge("pipeline_sender_inflight_events", "Events read, not yet committed",
                                     registry=r)  # fmt: skip
        self.inflight_bytes = Gauge("pipeline_sender_inflight_bytes", "Bytes of events in flight", registry=r)
        self.paused = Gauge(
            "pipeline_sender_paused",
            "1 while the partitions are paused (in-flight cap held over 2 s, or the RSS bound)",
            registry=r,
        )
        self.holds = Counter("pipeline_sender_holds", "Times reading stopped at the in-flight cap (librdkafka "
                             "keeps prefetching)", registry=r)  # fmt: skip
        self.pauses = Counter("pipeline_sender_pauses", "Times the partitions were paused: their prefetched "
                              "messages are dropped and fetched again on resume", registry=r)  # fmt: skip
        self.rss = Gauge("pipeline_process_rss_bytes", "Resident memory of this process", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
