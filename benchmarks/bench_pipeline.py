"""Pipeline throughput against its ceiling at real batch sizes, CPU per delivered event, end-to-end delay.

Everything real on this machine: Tansu broker, redis-server, the sandbox enforcing 100 Track
requests/s (reject mode: an early request is a 429), and two senders sharing the limit through Redis
with the default headroom (10 % of the limit kept free, so 90 requests/s).

1. For 50, 100 and 500 events per batch: a backlog of ``ceiling x --seconds`` events is pre-loaded
   into a fresh topic (produced directly, as ingest encodes them: ingest alone could not feed 45,000
   events/s beside everything else on 2 cores; ``bench_ingest.py`` measures ingest; encoded
   before it is produced, so the pre-loader's own Python work does not compete with the drain),
   and two fresh senders drain it. Delivered events/s are measured between 10 % and 90 % of the backlog
   arriving, against the ceiling ``limit x (1 - headroom) x events per batch``, with the sandbox's
   429 count; and each component's CPU per delivered event over the same window (the capacity
   plan's per-sender figure). Goal: >= 95 % of the ceiling and 0 x 429 at every batch size.
2. End-to-end delay (ingest -> sandbox, the senders' histogram) at half the ceiling of 50 per batch,
   fed through ingest.

``python benchmarks/bench_pipeline.py [--quick] [--batch-sizes 50,100,500] [--seconds S] [--json FILE]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import os
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import orjson
import psutil
from prometheus_client.parser import text_string_to_metric_families
from record import (  # a sibling script (its own directory comes first on the import path)
    Record,
    add_json_option,
)

from pipeline.envelope import Envelope
from pipeline.ids import new_ulids
from pipeline.kafka import partition_of
from plumbing.budget import HEADROOM, request_budget
from runs.pipeline import wait_for_group
from runs.processes import ManagedProcess, start_service
from runs.services import create_topics, start_redis, start_tansu

LIMIT = 100
USED = request_budget(LIMIT, HEADROOM.default) / LIMIT  # the senders' default headroom: 10 % kept free
AUTH = "Basic " + base64.b64encode(b"demo-site:demo-track-key").decode()
HEADERS = {"Authorization": AUTH, "Content-Type": "application/json"}


def _op(n: int) -> dict:
    return {"type": "person", "action": "event", "identifiers": {"id": f"p{n % 1000}"}, "name": "bench",
            "id": f"b-{n}", "attributes": {"n": n, "sent": time.time()}}  # fmt: skip


def encode_backlog(events: int, start: int, partitions: int = 6) -> list[tuple[bytes, bytes, int]]:
    """``events`` as ingest writes v2 batches of 100: one ``v2_ops`` message per (call, partition of
    the operations' people), as (value, key, partition)."""
    now = int(time.time() * 1000)
    messages = []
    for first in range(start, start + events, 100):
        ops = [_op(n) for n in range(first, min(first + 100, start + events))]
        groups: dict[int, tuple[bytes, list[dict], list[str | None]]] = {}
        for op, event_id in zip(ops, new_ulids(len(ops), now), strict=True):
            op["id"] = event_id
            key = op["identifiers"]["id"].encode()
            group = groups.setdefault(partition_of(key, partitions), (key, [], []))
            group[1].append(op)
            group[2].append(event_id)
        for partition, (key, group_ops, group_ids) in groups.items():
            messages.append(
                (Envelope.encode_operations("demo-site", group_ops, group_ids, now), key, partition)
            )
    return messages


def preload(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes, int]]) -> float:
    """Produce the encoded backlog; returns the seconds it took. Encoded beforehand, so this
    process's Python work (about 1.8 s of a core for 270,000 events) does not compete with the
    drain it starts: produced while encoding, the backlog's first second measured the pre-loader."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all",
                         "queue.buffering.max.messages": 200_000})  # fmt: skip
    began = time.monotonic()
    for value, key, partition in messages:
        while True:
            try:
                producer.produce(topic, value, key, partition=partition)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(60):
        raise RuntimeError("the broker did not take the whole backlog within 60 s")
    return time.monotonic() - began


def _track(sandbox_url: str) -> dict[str, int]:
    # Generous: on a loaded machine the stats call waits behind requests of 500 events each.
    with urllib.request.urlopen(f"{sandbox_url}/__sandbox/stats", timeout=60) as response:  # noqa: S310 - loopback
        return orjson.loads(response.read())["workspaces"]["demo"]["apis"]["track"]  # type: ignore[no-any-return]


def cpu_seconds(pid: int) -> float:
    process = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [process, *process.children(recursive=True)])


def drain(sandbox_url: str, before: dict[str, int], total: int, timeout: float, pids: dict[str, int],
          marks: Callable[[], dict[str, float]]) -> tuple[dict[str, float], list[dict[str, float]]]:  # fmt: skip
    """Rates between 10 % and 90 % of ``total`` events arriving, CPU per event over that window, and
    ``marks()`` taken as the window opens and closes."""
    samples = []
    taken: list[dict[str, float]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        track = _track(sandbox_url)
        ops = track.get("operations_accepted", 0) - before.get("operations_accepted", 0)
        cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
        samples.append((time.monotonic(), ops, track.get("requests", 0), cpu))
        while len(taken) < 2 and ops >= total * (0.1, 0.9)[len(taken)]:
            taken.append(marks())
        if ops >= total:
            break
        time.sleep(0.1)
    t10 = next((s for s in samples if s[1] >= total * 0.1), samples[-1])
    t90 = next((s for s in samples if s[1] >= total * 0.9), samples[-1])
    span = max(t90[0] - t10[0], 1e-9)
    events = max(t90[1] - t10[1], 1)
    after = _track(sandbox_url)
    out = {
        "delivered_per_s": (t90[1] - t10[1]) / span,
        "requests_per_s": (t90[2] - t10[2]) / span,
        "rate_limited": after.get("rate_limited", 0) - before.get("rate_limited", 0),
        "delivered": samples[-1][1],
    }
    for name in pids:
        out[f"cpu_us_per_event_{name}"] = (t90[3][name] - t10[3][name]) / events * 1e6
    return out, taken


def _metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:  # noqa: S310 - loopback
        text = r.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = s.name + ("{" + s.labels["le"] + "}" if "le" in s.labels else "")
            out[key] = s.value
    return out


def _sender_totals(senders: list[ManagedProcess]) -> dict[str, float]:
    total: dict[str, float] = {}
    for sender in senders:
        for key, value in _metrics(sender.url).items():
            total[key] = total.get(key, 0.0) + value
    return total


def _admission_figures(opened: dict[str, float], closed: dict[str, float]) -> dict[str, float]:
    """Both senders' view of admission between two of their totals: mean wait for a grant,
    window-log refusals, retried requests, spacing no request was waiting for."""

    def grown(key: str) -> float:
        return closed.get(key, 0.0) - opened.get(key, 0.0)

    grants = max(grown("pipeline_sender_limiter_wait_seconds_count"), 1.0)
    return {
        "grant_wait_ms": grown("pipeline_sender_limiter_wait_seconds_sum") / grants * 1000,
        "window_waits": grown("pipeline_sender_limiter_window_waits_total"),
        "retries": grown("pipeline_sender_retries_total"),
        "limiter_idle_s": grown("pipeline_sender_limiter_idle_seconds_total"),
    }


def _delay_buckets(senders: list[ManagedProcess]) -> dict[float, float]:
    total: dict[float, float] = {}
    for sender in senders:
        for key, value in _metrics(sender.url).items():
            if key.startswith("pipeline_end_to_end_seconds_bucket{"):
                le = float(key.split("{")[1].rstrip("}"))
                total[le] = total.get(le, 0) + value
    return total


def _quantile(buckets: dict[float, float], q: float) -> float:
    """Linear interpolation inside the cumulative histogram bucket holding the q-quantile."""
    items = sorted(buckets.items())
    count = items[-1][1]
    target, low_le, low_count = q * count, 0.0, 0.0
    for le, cumulative in items:
        if cumulative >= target:
            if le == float("inf"):
                return low_le
            return low_le + (le - low_le) * (target - low_count) / max(cumulative - low_count, 1e-9)
        low_le, low_count = le, cumulative
    return float("nan")


async def _paced(url: str, events_per_s: float, seconds: float, start: int, per_request: int = 10) -> int:
    interval = per_request / events_per_s
    sent = 0
    tasks = []
    async with aiohttp.ClientSession() as http:

        async def one(first: int) -> None:
            body = {"batch": [_op(first + i) for i in range(per_request)]}
            async with http.post(url + "/api/v2/batch", data=orjson.dumps(body), headers=HEADERS) as r:
                await r.read()

        began = time.monotonic()
        while time.monotonic() - began < seconds:
            tasks.append(asyncio.ensure_future(one(start + sent)))
            sent += per_request
            await asyncio.sleep(max(0.0, began + (sent / per_request) * interval - time.monotonic()))
        await asyncio.gather(*tasks)
    return sent


def _sender_argv(
    bootstrap: str, topic: str, group: str, sandbox_url: str, redis_url: str, batch: int, extra: list[str]
) -> list[str]:
    return ["pipeline", "sender", "--metrics-port", "0", "--bootstrap-servers", bootstrap, "--topic", topic,
            "--dead-letter-topic", "dlq", "--group-id", group, "--target", sandbox_url, "--redis-url", redis_url,
            "--rate-limit", str(LIMIT), "--session-timeout-ms", "6000", "--max-batch-operations", str(batch),
            "--linger-ms", "100", *extra]  # fmt: skip


def run(args: argparse.Namespace, record: Record) -> None:
    logs = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    with ExitStack() as stack:
        broker = stack.enter_context(start_tansu(logs))
        bootstrap = str(broker.info["url"])
        redis = stack.enter_context(start_redis(logs))
        redis_url = str(redis.info["redis_url"])
        create_topics(bootstrap, ["dlq"], partitions=1)
        sandbox = stack.enter_context(
            start_service(
                "sandbox",
                ["sandbox", "--port", "0", "--rate-limit", f"track={LIMIT}"],
                log_dir=logs,
            )
        )
        pids = {"sandbox": sandbox.pid, "broker": broker.pid, "redis": redis.pid}
        start = 0
        for batch in args.batch_sizes:
            ceiling = LIMIT * USED * batch
            backlog = int(ceiling * args.seconds)
            tag = uuid.uuid4().hex[:6]
            topic = f"events-{batch}-{tag}"
            create_topics(bootstrap, [topic], partitions=6)
            argv = _sender_argv(
                bootstrap, topic, f"senders-{tag}", sandbox.url, redis_url, batch, args.sender_arg
            )
            with ExitStack() as senders:
                procs = [
                    senders.enter_context(start_service(f"sender{i}-{batch}", argv, log_dir=logs))
                    for i in range(2)
                ]
                # The group settles first: a sender joining mid-drain would make the other re-send
                # what it had read of the partitions it hands over (at-least-once on a rebalance).
                wait_for_group(procs, partitions=6, timeout=60)
                messages = encode_backlog(backlog, start)
                before = _track(sandbox.url)
                load_s = preload(bootstrap, topic, messages)
                start += backlog
                watched = {**pids, **{f"sender{i}": p.pid for i, p in enumerate(procs)}}
                try:
                    result, marks = drain(sandbox.url, before, backlog, args.seconds * 4 + 40, watched,
                                          functools.partial(_sender_totals, procs))  # fmt: skip
                except psutil.NoSuchProcess as exc:
                    name = next((n for n, pid in watched.items() if pid == exc.pid), f"pid {exc.pid}")
                    raise SystemExit(f"bench_pipeline: {name} exited during the {batch}-per-batch drain; "
                                     f"its log is in {logs}") from None  # fmt: skip
                ended = _sender_totals(procs)
                opened, closed = (marks + [ended, ended])[:2]
                result.update(_admission_figures(opened, closed))
                whole = _admission_figures({}, ended)  # fresh senders: their totals are the whole drain
            ratio = result["delivered_per_s"] / ceiling
            label = f"{batch} events per batch"
            record.add(f"backlog pre-loaded ({label})", backlog, "events",
                       note=f"produced in {load_s:.1f} s, once both senders owned their partitions")  # fmt: skip
            record.add(f"ceiling ({LIMIT} req/s x {USED:g} x {batch})", ceiling, "events/s")
            record.add(f"delivered events/s ({label})", result["delivered_per_s"], "events/s")
            record.add(f"Track requests/s during the drain ({label})", result["requests_per_s"], "req/s")
            record.add(f"delivered / ceiling ({label})", ratio, "x", goal=(">=", 0.95))
            record.add(f"sandbox 429 answers ({label})", result["rate_limited"], goal=("==", 0))
            record.add(f"events delivered of the backlog ({label})", result["delivered"], "events",
                       goal=(">=", backlog))  # fmt: skip
            window = "between 10 % and 90 % of the backlog arriving, as the rates"
            record.add(f"mean wait for a grant ({label})", result["grant_wait_ms"], "ms",
                       note=f"from a batch ready to its request sent, {window}")  # fmt: skip
            record.add(f"grants held back by the window log ({label})", result["window_waits"],
                       note=f"tries refused while slow answers might still count in the window, {window}; "
                            f"{whole['window_waits']:.0f} in the whole drain")  # fmt: skip
            record.add(f"requests retried ({label})", result["retries"],
                       note=f"{window}; {whole['retries']:.0f} in the whole drain")  # fmt: skip
            record.add(f"limiter spacing left unused ({label})", result["limiter_idle_s"], "s",
                       note=f"no request was waiting for a slot, {window}; {whole['limiter_idle_s']:.2f} s "
                            "over the senders' lifetime (a drain's first grant counts the pause since the "
                            "previous drain, up to 1 s)")  # fmt: skip
            for name in ("sandbox", "broker", "redis", "sender0", "sender1"):
                key = f"cpu_us_per_event_{name}"
                if key in result:
                    record.add(f"CPU per delivered event, {name} ({label})", result[key], "µs")
            senders_us = result.get("cpu_us_per_event_sender0", 0) + result.get("cpu_us_per_event_sender1", 0)
            record.add(f"CPU per delivered event, all senders ({label})", senders_us, "µs",
                       note=f"one sender core carries {1e6 / max(senders_us, 1e-9):,.0f} events/s")  # fmt: skip
            print(f"  {label}: {result['delivered_per_s']:,.0f} events/s of {ceiling:,.0f} ({ratio:.1%}), "
                  f"{result['rate_limited']} x 429, {result['requests_per_s']:.1f} req/s, grant wait "
                  f"{result['grant_wait_ms']:.0f} ms, {result['window_waits']:.0f} window waits "
                  f"({whole['window_waits']:.0f} in the whole drain), spacing unused "
                  f"{result['limiter_idle_s']:.2f} s (10-90 %); "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
        if args.delay:
            # 2. delay below saturation, fed through ingest at half the ceiling of 50 per batch
            topic = f"events-delay-{uuid.uuid4().hex[:6]}"
            create_topics(bootstrap, [topic], partitions=6)
            ingest = stack.enter_context(start_service("ingest", ["pipeline", "ingest", "--port", "0",
                "--bootstrap-servers", bootstrap, "--topic", topic], log_dir=logs))  # fmt: skip
            argv = _sender_argv(
                bootstrap, topic, f"senders-delay-{topic[-6:]}", sandbox.url, redis_url, 50, args.sender_arg
            )
            delay_senders = [
                stack.enter_context(start_service(f"sender-delay{i}", argv, log_dir=logs)) for i in range(2)
            ]
            time.sleep(6)  # consumer group join
            before = _track(sandbox.url)
            rate = LIMIT * USED * 50 * 0.5
            sent = asyncio.run(_paced(ingest.url, rate, args.seconds / 2, start))
            deadline = time.monotonic() + 30
            while (_track(sandbox.url).get("operations_accepted", 0) - before.get("operations_accepted", 0) < sent
                   and time.monotonic() < deadline):  # fmt: skip
                time.sleep(0.2)
            time.sleep(1.5)
            buckets = _delay_buckets(delay_senders)
            record.add(f"end-to-end delay p50 at {rate:,.0f} events/s (50% of the 50-per-batch ceiling)",
                       _quantile(buckets, 0.5) * 1000, "ms")  # fmt: skip
            record.add(f"end-to-end delay p99 at {rate:,.0f} events/s", _quantile(buckets, 0.99) * 1000, "ms")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="6 s of backlog per batch size (default 15 s)")
    p.add_argument(
        "--batch-sizes", default="50,100,500", help="events per batch request (default 50,100,500)"
    )
    p.add_argument("--seconds", type=float, default=None, help="backlog length in seconds at the ceiling")
    p.add_argument(
        "--sender-arg", action="append", default=[], help="extra option for both senders (repeatable)"
    )
    p.add_argument("--no-delay", dest="delay", action="store_false", help="skip the end-to-end delay phase")
    add_json_option(p)
    args = p.parse_args(argv)
    try:
        args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    except ValueError:
        p.error(f"--batch-sizes {args.batch_sizes!r}: give comma-separated integers, e.g. 50,100,500")
    args.seconds = args.seconds or (6.0 if args.quick else 15.0)
    record = Record("bench_pipeline", quick=args.quick,
                    settings={"batch_sizes": args.batch_sizes, "seconds": args.seconds, "limit": LIMIT,
                              "used": USED, "senders": 2, "feed": "pre-loaded backlog",
                              "sender_args": args.sender_arg})  # fmt: skip
    print(
        f"bench_pipeline: {os.cpu_count()} cores, load average {record.data['load_average_start']}",
        flush=True,
    )
    run(args, record)
    print("\n" + record.figures_markdown())
    return record.finish(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
