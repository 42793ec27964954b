"""confluent-kafka glue for asyncio: a producer whose deliveries are awaitable, and consumer settings.

librdkafka hands delivery reports out from ``poll()``. The producer polls from the event loop itself
(every millisecond while messages are in flight, every 50 ms otherwise), so reports resolve their
futures directly: no thread, no cross-thread wake-up per message, and many requests' messages
share one poll. Each call's messages share one waiter, so a v2 batch of 100 costs one future.

Keys are partitioned by CRC-32 (librdkafka's ``consistent_random``), which ``partition_of`` computes
in Python too: ingest groups a v2 call's operations per partition into one message each, and a v1
call for the same person lands on the same partition, so one person's calls keep their order.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from plumbing.errors import PipelineError

__all__ = [
    "ANY_PARTITION",
    "AsyncProducer",
    "KafkaUnavailable",
    "Message",
    "QueueFull",
    "consumer_settings",
    "partition_of",
    "producer_settings",
]

log = logging.getLogger("pipeline.kafka")
ANY_PARTITION = -1
"""librdkafka's RD_KAFKA_PARTITION_UA: its partitioner picks by key."""
Message = tuple[bytes, bytes, int]
"""``(key, value, partition)``; ``ANY_PARTITION`` lets the partitioner choose by key."""

BUSY_POLL_SECONDS = 0.001
IDLE_POLL_SECONDS = 0.05


class KafkaUnavailable(PipelineError, RuntimeError):
    """The broker did not acknowledge in time; the caller must not report the data as kept."""

    exit_code = 1


class QueueFull(KafkaUnavailable):
    """The bounded local producer queue is full."""


Done = Callable[[BaseException | None], None]
"""Called once per call: None when the broker has every message, else why not."""


class _Waiter:
    """One call's messages: ``done`` is called when all are acknowledged, or at the first error."""

    __slots__ = ("deadline", "done", "finished", "left")

    def __init__(self, done: Done, count: int, deadline: float):
        self.done = done
        self.finished = False
        self.left = count
        self.deadline = deadline

    def report(self, err: KafkaError | None, _msg: Any) -> None:
        self.left -= 1
        if self.finished:
            return
        if err is not None:
            self.finish(KafkaUnavailable(str(KafkaException(err))))
        elif self.left == 0:
            self.finish(None)

    def finish(self, exc: BaseException | None) -> None:
        self.finished = True
        try:
            self.done(exc)
        except Exception:  # an exception would escape through poll() and stop the polling timer
            log.exception("a delivery callback failed")


class AsyncProducer:
    def __init__(self, settings: dict[str, Any], loop: asyncio.AbstractEventLoop, max_queued: int):
        self._producer = Producer(settings)
        # produce_batch (confluent-kafka >= 2.11 or so) runs the partitioner per message like produce.
        self._batch = getattr(self._producer, "produce_batch", None)
        self._loop = loop
        self._max_queued = max_queued
        self._waiters: deque[_Waiter] = deque()
        """In creation order (deadlines too, as every call has the same timeout)."""
        self._staged: list[tuple[str, Sequence[Message], _Waiter]] = []
        self._partitions: dict[str, int] = {}
        self._staged_count = 0
        self._flush_soon = False
        self._timer: asyncio.TimerHandle | None = None
        self._busy = False
        self._closed = False
        self._schedule(IDLE_POLL_SECONDS)

    def queued(self) -> int:
        return len(self._producer)

    def partitions(self, topic: str) -> int:
        """The topic's partition count as last looked up (0: not known yet)."""
        return self._partitions.get(topic, 0)

    def look_up_partitions(self, topic: str, timeout: float = 5.0) -> int:
        """Ask the broker for ``topic``'s partition count (blocking: run it in an executor)."""
        try:
            found = self._producer.list_topics(topic, timeout=timeout).topics.get(topic)
        except KafkaException as exc:
            log.warning("partition count of %s unknown (%s); asking again later", topic, exc)
            return self.partitions(topic)
        count = len(found.partitions) if found is not None and found.error is None else 0
        if count != self.partitions(topic):
            log.info("topic %s has %d partitions", topic, count)
            self._partitions[topic] = count
        return count

    def produce_many(self, topic: str, messages: Sequence[Message], timeout: float) -> asyncio.Future[None]:
        """``produce_then`` with a future: it resolves when the broker has all, or fails with why not."""
        future: asyncio.Future[None] = self._loop.create_future()

        def done(exc: BaseException | None) -> None:
            if future.done():  # cancelled by its awaiter
                return
            if exc is None:
                future.set_result(None)
            else:
                future.set_exception(exc)

        self.produce_then(topic, messages, timeout, done)
        return future

    def produce_then(self, topic: str, messages: Sequence[Message], timeout: float, done: Done) -> None:
        """Produce ``(key, value, partition)`` messages; ``done(None)`` once all are acknowledged.

        Raises QueueFull at once when the queue cannot take them all, so nothing is half-accepted.
        ``done`` gets KafkaUnavailable on a delivery error and TimeoutError after ``timeout``
        (librdkafka's own message timeout is the same, so a message is not kept later either).

        Messages are staged and handed to librdkafka in one ``produce_batch`` at the end of this
        loop iteration, together with those of every other request parsed in it: one call (and one
        wake-up of librdkafka's broker thread) instead of one per request.
        """
        if len(self._producer) + self._staged_count + len(messages) > self._max_queued:
            raise QueueFull(f"producer queue holds {len(self._producer) + self._staged_count} messages")
        waiter = _Waiter(done, len(messages), self._loop.time() + timeout)
        self._staged.append((topic, messages, waiter))
        self._staged_count += len(messages)
        self._waiters.append(waiter)
        if not self._flush_soon:
            self._flush_soon = True
            self._loop.call_soon(self._produce_staged)

    def _produce_staged(self) -> None:
        staged, self._staged, self._staged_count, self._flush_soon = self._staged, [], 0, False
        # produce_batch ignores a message's own "partition" (confluent-kafka 2.16): one call per partition.
        by_partition: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for topic, messages, waiter in staged:
            report = waiter.report
            for key, value, partition in messages:
                batch = by_partition.get((topic, partition))
                if batch is None:
                    batch = by_partition[topic, partition] = []
                batch.append({"key": key, "value": value, "callback": report})
        for (topic, partition), batch in by_partition.items():
            try:
                queued = self._produce_batch(topic, partition, batch)
            except BufferError:
                queued = 0
            if queued < len(batch):
                for message in batch:
                    if queued == 0 or "_error" in message:
                        message["callback"](KafkaError(KafkaError._QUEUE_FULL, "producer queue full"), None)
        if not self._busy:
            self._busy = True
            self._schedule(BUSY_POLL_SECONDS)

    def _produce_batch(self, topic: str, partition: int, batch: list[dict[str, Any]]) -> int:
        if self._batch is not None:
            return int(self._batch(topic, batch, partition=partition))
        for i, message in enumerate(batch):  # an older confluent-kafka without produce_batch
            try:
                self._producer.produce(
                    topic, message["value"], message["key"], partition, on_delivery=message["callback"]
                )
            except BufferError:
                for rest in batch[i:]:
                    rest["_error"] = "queue full"
                return i
        return len(batch)

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None if self._closed else self._loop.call_later(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._producer.poll(0)
        waiters, now = self._waiters, self._loop.time()
        while waiters and (waiters[0].finished or waiters[0].deadline <= now):
            waiter = waiters.popleft()
            if not waiter.finished:
                waiter.finish(TimeoutError("broker did not acknowledge in time"))
        self._busy = bool(waiters) or len(self._producer) > 0
        self._schedule(BUSY_POLL_SECONDS if self._busy else IDLE_POLL_SECONDS)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout``); call it on the loop's thread."""
        self._produce_staged()
        self._closed = True
        self._schedule(0)
        self._producer.flush(timeout)


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
        "partitioner": "consistent_random",  # CRC-32 of the key, as partition_of computes
    }


def partition_of(key: bytes, partitions: int) -> int:
    """The partition librdkafka's ``consistent_random`` partitioner gives a non-empty ``key``."""
    return zlib.crc32(key) % partitions


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
