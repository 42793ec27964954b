"""confluent-kafka glue for asyncio: a producer whose deliveries are awaitable, and consumer settings.

librdkafka calls delivery callbacks from ``poll()``; a small thread polls and hands each report to the
event loop, so a request handler can ``await`` the broker's acknowledgement without blocking the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from plumbing.errors import PipelineError

__all__ = ["AsyncProducer", "KafkaUnavailable", "QueueFull", "consumer_settings", "producer_settings"]


class KafkaUnavailable(PipelineError, RuntimeError):
    """The broker did not acknowledge in time; the caller must not report the data as kept."""

    exit_code = 1


class QueueFull(KafkaUnavailable):
    """The bounded local producer queue is full."""


class AsyncProducer:
    def __init__(self, settings: dict[str, Any], loop: asyncio.AbstractEventLoop, max_queued: int):
        self._producer = Producer(settings)
        self._loop = loop
        self._max_queued = max_queued
        self._running = True
        self._thread = threading.Thread(target=self._poll_forever, name="kafka-poll", daemon=True)
        self._thread.start()

    def _poll_forever(self) -> None:
        while self._running:
            self._producer.poll(0.05)

    def queued(self) -> int:
        return len(self._producer)

    def produce_many(
        self, topic: str, messages: Iterable[tuple[bytes, bytes]], timeout: float
    ) -> asyncio.Future[list[None]]:
        """Produce ``(key, value)`` pairs; the future resolves when all are acknowledged.

        Raises QueueFull at once when the queue cannot take them all, so nothing is half-accepted.
        """
        items = list(messages)
        if len(self._producer) + len(items) > self._max_queued:
            raise QueueFull(f"producer queue holds {len(self._producer)} messages")
        futures = []
        for key, value in items:
            future = self._loop.create_future()
            try:
                self._producer.produce(topic, value, key, on_delivery=self._reporter(future))
            except BufferError as exc:
                future.cancel()
                raise QueueFull(str(exc)) from None
            futures.append(future)
        return asyncio.ensure_future(asyncio.wait_for(asyncio.gather(*futures), timeout))

    def _reporter(self, future: asyncio.Future[None]) -> Any:
        loop = self._loop

        def report(err: KafkaError | None, _msg: Any) -> None:
            loop.call_soon_threadsafe(_settle, future, err)

        return report

    def close(self, timeout: float = 5.0) -> None:
        self._running = False
        self._thread.join(timeout)
        self._producer.flush(timeout)


def _settle(future: asyncio.Future[None], err: KafkaError | None) -> None:
    if future.done():
        return
    if err is None:
        future.set_result(None)
    else:
        future.set_exception(KafkaUnavailable(str(KafkaException(err))))


def producer_settings(
    bootstrap: str, queue_messages: int, queue_kbytes: int, timeout: float
) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "linger.ms": 5,
        "queue.buffering.max.messages": queue_messages,
        "queue.buffering.max.kbytes": queue_kbytes,
        # A message not acknowledged within the answer timeout fails, so a 503 answer means "not kept"
        # (barring a broker that stored it but whose ack was lost: then the client's retry duplicates).
        "message.timeout.ms": int(timeout * 1000),
        "socket.timeout.ms": max(1000, int(timeout * 1000)),
        "partitioner": "murmur2_random",
    }


def consumer_settings(
    bootstrap: str, group_id: str, session_timeout_ms: int, fetch_kbytes: int
) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": session_timeout_ms,
        "heartbeat.interval.ms": max(500, session_timeout_ms // 4),
        "max.poll.interval.ms": max(session_timeout_ms, 60_000),
        # librdkafka's own prefetch queue is part of the memory bound.
        "queued.max.messages.kbytes": fetch_kbytes,
        "fetch.max.bytes": fetch_kbytes * 1024,
        "max.partition.fetch.bytes": min(1024 * 1024, fetch_kbytes * 1024),
    }
