"""The sender worker: consume envelopes, batch them, deliver within the shared rate limit, commit.

At-least-once: an offset is committed only when every message before it was delivered (or written to
the dead-letter topic). Memory is bounded: at the in-flight caps (events, bytes) reading stops until
deliveries catch up (held at once, paused when it lasts), and the RSS bound pauses it. SIGTERM stops
reading, delivers what is in flight (up to ``shutdown_timeout``), commits and leaves the group; a
rebalance commits the revoked partitions' delivered offsets, and anything undelivered is simply read
again by the new owner.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from itertools import groupby
from operator import attrgetter
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from redis.exceptions import RedisError

from pipeline.admission import Admission
from pipeline.batching import Batch, Batcher, Item
from pipeline.config import SenderConfig
from pipeline.delivery import Verdict, backoff, classify
from pipeline.envelope import Envelope, read_operations, to_operation
from pipeline.kafka import (
    ANY_PARTITION,
    AsyncProducer,
    KafkaUnavailable,
    consumer_settings,
    producer_settings,
)
from pipeline.limiter import RedisRateLimiter
from pipeline.memory import MemoryGuard
from pipeline.metrics import SenderMetrics
from pipeline.offsets import OffsetTracker, PartitionOffsets
from plumbing.heap import clear_exception_frames, freeze_startup_objects

__all__ = ["Sender", "serve"]

log = logging.getLogger("pipeline.sender")
# Messages taken per turn of the loop: a few ms of work, so a grant that comes due meanwhile is used
# within a fraction of the limiter's spacing (a longer turn delays the request it grants).
_READ_BATCH = 100
_RESUME_AT = 0.7
# At the in-flight cap the sender first just stops reading ("holds"): librdkafka keeps prefetching
# into its own bounded queue (queued.max.messages.kbytes, part of the memory bound), so reading goes
# on the moment deliveries free room. Pausing drops that prefetch, and a resumed partition is
# fetched again only at librdkafka's next broker-thread wake-up, up to a second later: pausing at
# every brush with the cap left a 500-per-batch drain with nothing to send for ~0.7 s each time (0.77
# to 0.92 of its ceiling; 0.99 with holds). So the partitions are paused only once a hold lasts this
# long (the target down: the poll interval and the prefetch memory stay bounded), or for the RSS
# bound. Rebalance callbacks run inside consume(), so a hold delays a rebalance by at most this.
_PAUSE_AFTER = 2.0
_MESSAGE = attrgetter("partition", "offset")


class Sender:
    def __init__(self, config: SenderConfig, metrics: SenderMetrics, consumer: Consumer,
                 dead_letters: AsyncProducer, limiter: RedisRateLimiter, http: aiohttp.ClientSession,
                 guard: MemoryGuard) -> None:  # fmt: skip
        self.config = config
        self.metrics = metrics
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.limiter = limiter
        self.http = http
        self.guard = guard
        self.tracker = OffsetTracker()
        self.batcher = Batcher(config.max_batch_operations, config.max_batch_bytes,
                               config.limits.v2_operation_bytes, config.linger)  # fmt: skip
        self._auth = {
            w.site_id: "Basic " + base64.b64encode(f"{w.site_id}:{w.track_api_key}".encode()).decode()
            for w in config.workspaces
        }
        self.admission = Admission(limiter, config.concurrency)
        self._operation_bytes = config.limits.v2_operation_bytes
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight_events = 0
        self._inflight_bytes = 0
        self._paused = False
        self._full_since: float | None = None
        self._largest_message = 1
        """Events in the largest message read so far: sizes a read near the cap so it fits."""
        self._assignment_changed = False
        self._assigned: set[tuple[str, int]] = set()
        self.stopping = asyncio.Event()
        self._abandon = False
        self._seen_for_skip = 0

    # -- consuming ----------------------------------------------------------------------------------

    async def run(self) -> None:
        topic = self.config.kafka.topic
        self.consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)  # fmt: skip
        next_commit = time.monotonic() + self.config.commit_interval
        while not self.stopping.is_set():
            reading = self._apply_backpressure(time.monotonic())
            messages = self.consumer.consume(reading, 0) if reading else []
            for i, message in enumerate(messages):
                if i and self._inflight_events >= self.config.max_inflight_events:
                    self._give_back(messages[i:])
                    break
                before = self._inflight_events
                self._accept(message)
                if self._inflight_events - before > self._largest_message:
                    self._largest_message = self._inflight_events - before
            now = time.monotonic()
            self._dispatch(self.batcher.due(now))
            if now >= next_commit:
                self._commit(asynchronous=True)
                next_commit = now + self.config.commit_interval
            # Straight on after a full read; soon while holding (room comes back as answers do).
            await asyncio.sleep(
                0 if messages and len(messages) == reading else 0.005 if messages or not reading else 0.02
            )
        await self._shutdown()

    def _give_back(self, messages: list[Message]) -> None:
        """Read past the in-flight cap (a v2 call's message holds several events): seek each partition
        back to its first message not taken, so it is read again once deliveries catch up."""
        first: dict[tuple[str, int], int] = {}
        for message in messages:
            if message.error() is None:
                first.setdefault((message.topic() or "", message.partition() or 0), message.offset() or 0)
        for (topic, partition), offset in first.items():
            self.consumer.seek(TopicPartition(topic, partition, offset))

    def _accept(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error: %s", error)
            return
        topic, partition, offset = message.topic() or "", message.partition() or 0, message.offset() or 0
        tracked = self.tracker.partition(topic, partition)
        raw, key = message.value() or b"", message.key()
        if self._take_operations(raw, key, tracked, offset):
            return
        try:
            envelopes = Envelope.decode(raw).split()
        except (ValueError, KeyError, TypeError) as exc:
            tracked.add(offset)
            item = Item(raw, key, tracked, offset)
            self._inflight_events += 1
            self._inflight_bytes += item.size
            reason = str(exc) if isinstance(exc, ValueError) else f"not a pipeline envelope ({exc!r})"
            self._spawn(self._dead_letter([(item, "undecodable", reason)]))
            return
        tracked.add(offset, len(envelopes))
        share = len(raw) // len(envelopes)
        items = [Item(raw, key, tracked, offset, envelope, size=share) for envelope in envelopes]
        self._inflight_events += len(items)
        self._inflight_bytes += share * len(items)
        workspace = envelopes[0].workspace
        if workspace not in self._auth:
            reason = f"workspace {workspace!r} is not configured in this sender"
            self._spawn(self._dead_letter([(item, "unknown_workspace", reason) for item in items]))
            return
        for item, envelope in zip(items, envelopes, strict=True):
            try:
                operation = to_operation(envelope)
            except (KeyError, TypeError, AttributeError):
                operation = None  # malformed for v2: replay the original v1 call and let the target judge
            self._dispatch(self.batcher.add(item, operation))

    def _take_operations(self, raw: bytes, key: bytes | None, tracked: PartitionOffsets,
                         offset: int) -> bool:  # fmt: skip
        """The hot path for a ``v2_ops`` message of a configured workspace whose operations are all
        objects within the size limit: an item per operation holding its JSON as it arrived (the
        request body joins them), without decoding the operations or an envelope object each.
        False: take the message the general way (which also judges it)."""
        message = read_operations(raw, self._operation_bytes)
        if message is None or message.workspace not in self._auth:
            return False
        ops, workspace, received_ms = message.operations, message.workspace, message.received_ms
        tracked.add(offset, len(ops))
        share = len(raw) // len(ops)
        self._inflight_events += len(ops)
        self._inflight_bytes += share * len(ops)
        items = [Item(raw, key, tracked, offset, None, op, share, workspace, received_ms) for op in ops]
        self._dispatch(self.batcher.add_encoded(workspace, items))
        return True

    def _apply_backpressure(self, now: float) -> int:
        """Hold, pause or resume reading; returns how many messages to read now (0: none)."""
        cfg = self.config
        full = (self._inflight_events >= cfg.max_inflight_events
                or self._inflight_bytes >= cfg.max_inflight_bytes)  # fmt: skip
        if not full:
            self._full_since = None
        elif self._full_since is None:
            self._full_since = now
            self.metrics.holds.inc()
        over = self.guard.over()
        stalled = self._full_since is not None and now - self._full_since >= _PAUSE_AFTER
        if (over or stalled) and (not self._paused or self._assignment_changed):
            self.consumer.pause(self.consumer.assignment())
            if not self._paused:
                self.metrics.pauses.inc()
            self._paused, self._assignment_changed = True, False
        elif (
            self._paused
            and not over
            and self._inflight_events < cfg.max_inflight_events * _RESUME_AT
            and self._inflight_bytes < cfg.max_inflight_bytes * _RESUME_AT
        ):
            self.consumer.resume(self.consumer.assignment())
            self._paused = False
        self.metrics.paused.set(1 if self._paused else 0)
        self.metrics.inflight_events.set(self._inflight_events)
        self.metrics.inflight_bytes.set(self._inflight_bytes)
        if self._paused:
            return _READ_BATCH  # nothing comes (consume() still serves the group's callbacks)
        if full:
            return 0
        room = cfg.max_inflight_events - self._inflight_events
        return max(1, min(_READ_BATCH, room // self._largest_message))

    # -- rebalance and commits ----------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", [p.partition for p in partitions])
        self._assigned.update((p.topic, p.partition) for p in partitions)
        self.metrics.assigned.set(len(self._assigned))
        self._assignment_changed = True

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(p.topic, p.partition) for p in partitions]
        log.info("revoked %s", [p.partition for p in partitions])
        self._commit_offsets(self.tracker.release(keys), asynchronous=False)
        self._forget(keys)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(p.topic, p.partition) for p in partitions]
        log.warning(
            "lost %s; their undelivered messages go to the new owner", [p.partition for p in partitions]
        )
        self.tracker.release(keys)
        self._forget(keys)

    def _forget(self, keys: list[tuple[str, int]]) -> None:
        for key in keys:
            self._assigned.discard(key)
            self.metrics.assigned.set(len(self._assigned))
            try:
                self.metrics.lag.remove(key[0], str(key[1]))
            except KeyError:
                pass

    def _commit(self, asynchronous: bool) -> None:
        self._commit_offsets(self.tracker.commits(force=not asynchronous), asynchronous)

    def _commit_offsets(self, offsets: list[tuple[str, int, int]], asynchronous: bool) -> None:
        if not offsets:
            return
        partitions = [TopicPartition(t, p, o) for t, p, o in offsets]
        try:
            if asynchronous:
                self.consumer.commit(offsets=partitions, asynchronous=True)
            else:
                self.consumer.commit(offsets=partitions, asynchronous=False)
        except KafkaException as exc:
            # Not fatal: the previous commit point stays, so the worst case is a re-delivery.
            log.warning("commit failed (%s); offsets will be committed later or re-read", exc)

    async def report_lag(self, offsets: AdminClient, interval: float = 2.0) -> None:
        """Every ``interval`` s: per assigned partition, messages between the first undelivered one and
        the end. Asked from the broker, because librdkafka's own figure needs a stored offset and
        goes stale while a partition is paused, exactly when the backlog matters.

        Asked through ``offsets``, an admin client of its own, as futures: asked through the consumer
        (``get_watermark_offsets``, one blocking call per partition in a thread), the query stalled
        the consumer's loop for up to a second every round, and a drain at the limit lost a tenth of
        its rate (bench_pipeline: 0.81-1.00 of the ceiling with it, 0.99-1.01 without)."""
        while not self.stopping.is_set():
            await asyncio.sleep(interval)
            keys = list(self._assigned)
            if not keys:
                continue
            ends = await _end_offsets(offsets, keys)
            for key, end in ends.items():
                if key not in self._assigned:
                    continue
                topic, partition = key
                position = self.tracker.position(topic, partition)
                self.metrics.lag.labels(topic, str(partition)).set(
                    max(0, end["latest"] - (end["earliest"] if position is None else position))
                )

    # -- delivery -----------------------------------------------------------------------------------

    def _dispatch(self, batches: list[Batch]) -> None:
        for batch in batches:
            self._spawn(self._deliver(batch))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed; its events stay uncommitted", exc_info=task.exception())

    def _skip_for_test(self, batch: Batch) -> Batch:
        # The test-only fault: every Nth event is finished (so committed) without ever being sent.
        n = self.config.test_skip_one_in
        kept: list[Item] = []
        skipped: list[Item] = []
        for item in batch.items:
            self._seen_for_skip += 1
            (skipped if self._seen_for_skip % n == 0 else kept).append(item)
        if skipped:
            log.warning("TEST FAULT (--test-skip-one-in %d): %d event(s) dropped unsent", n, len(skipped))
            self._finish(skipped, delivered=False)
        return batch.with_items(kept)

    async def _deliver(self, batch: Batch) -> None:
        if self.config.test_skip_one_in:
            batch = self._skip_for_test(batch)
        attempt = 0
        while batch.items and not self._abandon:
            verdict = await self._attempt(batch)
            self._finish(verdict.delivered, delivered=True)
            if verdict.dead:
                await self._dead_letter(verdict.dead)
            if verdict.split:
                half = len(batch.items) // 2
                await asyncio.gather(self._deliver(batch.with_items(batch.items[:half])),
                                     self._deliver(batch.with_items(batch.items[half:])))  # fmt: skip
                return
            if verdict.retry:
                self.metrics.retries.inc()
                await asyncio.sleep(backoff(attempt, self.config.backoff_base, self.config.backoff_max,
                                            verdict.retry_after))  # fmt: skip
                attempt += 1
            batch = batch.with_items(verdict.retry)

    async def _attempt(self, batch: Batch) -> Verdict:
        method, path, body = batch.request()  # built before the grant: once granted, send at once
        try:
            grant = await self.admission.turn(batch.workspace)
        except RedisError as exc:
            log.warning("rate limiter unavailable (%s); holding the batch", exc)
            return Verdict(retry=batch.items)
        try:
            status, answer, headers = await self._request(method, path, body, batch.workspace)
        finally:
            self.admission.done(grant)
        self.metrics.limiter_wait.observe(grant.waited)
        if grant.window_waits:
            self.metrics.window_waits.inc(grant.window_waits)
        if grant.idle:
            self.metrics.limiter_idle.inc(grant.idle)
        self.metrics.batch_ops.observe(len(batch.items))
        self.metrics.requests.labels(str(status) if status else headers.get("error", "error")).inc()
        return classify(status, answer, headers, batch.items)

    async def _request(self, method: str, path: str, body: bytes,
                       workspace: str) -> tuple[int | None, bytes, dict[str, str]]:  # fmt: skip
        headers = {"Authorization": self._auth[workspace], "Content-Type": "application/json"}
        try:
            async with self.http.request(
                method, self.config.target + path, data=body, headers=headers
            ) as resp:
                return resp.status, await resp.read(), dict(resp.headers)
        except (TimeoutError, aiohttp.ClientError) as exc:
            # Its traceback's frames would keep the request (the whole body) alive in a cycle until
            # the next full collection: a paused sender retrying all through an outage grew ~1 MiB/s.
            clear_exception_frames(exc)
            return None, b"", {"error": "timeout" if isinstance(exc, TimeoutError) else "connection_error"}

    def _finish(self, items: list[Item], delivered: bool) -> None:
        # The events of one message share its offset, byte share and receipt time, and travel
        # together: the bookkeeping is per run of them (a v2 call gives ~17 per message), not per event.
        now_ms = time.time() * 1000
        observe, nbytes = self.metrics.delay.observe_many, 0
        for (partition, offset), group in groupby(items, key=_MESSAGE):
            run = list(group)
            first, events = run[0], len(run)
            partition.finish(offset, events)
            nbytes += first.size * events
            if delivered and first.received_ms:
                observe(max(0.0, now_ms - first.received_ms) / 1000, events)
        self._inflight_events -= len(items)
        self._inflight_bytes -= nbytes
        if delivered:
            self.metrics.delivered.inc(len(items))

    async def _dead_letter(self, dead: list[tuple[Item, str, str]]) -> None:
        messages = [
            (item.key or b"", _dead_letter_value(item, reason, message), ANY_PARTITION)
            for item, reason, message in dead
        ]
        attempt = 0
        while not self._abandon:
            try:
                await self.dead_letters.produce_many(self.config.kafka.dead_letter_topic, messages, 10.0)
                break
            except (TimeoutError, KafkaUnavailable) as exc:
                log.warning("dead-letter topic unavailable (%s); retrying", exc)
                await asyncio.sleep(backoff(attempt, 0.5, 10.0))
                attempt += 1
        else:
            return
        for _item, reason, _message in dead:
            self.metrics.dead_letters.labels(reason).inc()
        self._finish([item for item, _, _ in dead], delivered=False)

    # -- shutdown -----------------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        log.info("stopping: delivering %d in-flight events", self._inflight_events)
        self.consumer.pause(self.consumer.assignment())
        self._dispatch(self.batcher.drain())
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=self.config.shutdown_timeout)
            if pending:
                log.warning("%d deliveries unfinished after %.0f s; they will be re-read by another sender",
                            len(pending), self.config.shutdown_timeout)  # fmt: skip
                self._abandon = True
                for task in pending:
                    task.cancel()
        await self.admission.close()
        self._commit(asynchronous=False)


async def _end_offsets(offsets: AdminClient, keys: list[tuple[str, int]],
                       timeout: float = 2.0) -> dict[tuple[str, int], dict[str, int]]:  # fmt: skip
    """The earliest and latest offset of each partition that answered within ``timeout``."""
    ends: dict[tuple[str, int], dict[str, int]] = {}
    for spec, name in ((OffsetSpec.earliest(), "earliest"), (OffsetSpec.latest(), "latest")):
        try:
            futures = offsets.list_offsets(
                {TopicPartition(t, p): spec for t, p in keys}, request_timeout=timeout
            )
        except KafkaException:
            return {}
        for tp, future in futures.items():
            try:
                answer = await asyncio.wait_for(asyncio.wrap_future(future), timeout + 1)
            except (KafkaException, TimeoutError):
                continue
            ends.setdefault((tp.topic, tp.partition), {})[name] = answer.offset
    return {key: end for key, end in ends.items() if len(end) == 2}


def _dead_letter_value(item: Item, reason: str, message: str) -> bytes:
    partition = item.partition
    envelope: Any
    try:
        # The event's own envelope: one operation of a v2_ops message, not all of them.
        envelope = orjson.loads(item.raw if item.envelope is None else item.envelope.encode())
    except orjson.JSONDecodeError:
        envelope = item.raw.decode(errors="replace")
    return orjson.dumps(
        {"reason": reason, "message": message, "topic": partition.topic, "partition": partition.partition,
         "offset": item.offset, "failed_at": time.time(), "envelope": envelope}
    )  # fmt: skip


async def serve(config: SenderConfig) -> None:
    """Run one sender until SIGTERM/SIGINT; the ready file's url is its /metrics server."""
    from aiohttp import web

    from pipeline.runtime import listen, wait_for_stop
    from pipeline.startup import require_broker, require_redis

    await asyncio.gather(require_broker(config.kafka.bootstrap_servers, config.startup_timeout),
                         require_redis(config.redis_url, config.startup_timeout))  # fmt: skip
    loop = asyncio.get_running_loop()
    metrics = SenderMetrics()
    kafka = config.kafka
    settings = consumer_settings(kafka.bootstrap_servers, config.group_id, config.session_timeout_ms,
                                 fetch_kbytes=4096)  # fmt: skip
    consumer = Consumer(settings)
    dead_letters = AsyncProducer(producer_settings(kafka.bootstrap_servers, 10_000, 8192, 10.0), loop, 10_000)
    redis_client = aioredis.from_url(config.redis_url)
    limiter = RedisRateLimiter(redis_client, config.requests_per_second, config.burst, config.rate_window,
                               config.window_limit, inflight_bound=config.request_timeout + 1.0)  # fmt: skip
    http = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=config.request_timeout),
        connector=aiohttp.TCPConnector(limit=config.concurrency * 2),
    )
    guard = MemoryGuard(config.max_rss_mb, metrics.rss)
    guard.start()
    sender = Sender(config, metrics, consumer, dead_letters, limiter, http, guard)

    async def metrics_page(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"})

    app = web.Application()
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/health", lambda _r: _health())
    runner = await listen(app, config.metrics_bind, config.metrics_port, config.ready_file)
    stop_waiter = asyncio.ensure_future(wait_for_stop())
    stop_waiter.add_done_callback(lambda _f: sender.stopping.set())
    offsets = AdminClient({"bootstrap.servers": kafka.bootstrap_servers})
    lag_reporter = asyncio.ensure_future(sender.report_lag(offsets))
    freeze_startup_objects()
    try:
        await sender.run()
    finally:
        stop_waiter.cancel()
        lag_reporter.cancel()
        consumer.close()  # leaves the group now (rebalance callbacks run in this thread)
        await http.close()
        await redis_client.aclose()
        dead_letters.close()  # on the loop: its delivery reports settle futures of this loop
        guard.stop()
        await runner.cleanup()


async def _health() -> Any:
    from aiohttp import web

    return web.json_response({"status": "ok"})
