"""Pipeline throughput against the theoretical ceiling, end-to-end delay, and ingest's own rate.

Everything real on this machine: Tansu broker, redis-server, the sandbox at 100 Track requests/s
(reject mode), one ingest and two senders. Three measurements, printed as a markdown table:

1. ingest accepted events/s (v1 single calls and v2 batches of 100) next to the sandbox's own rate for
   the same client (64 connections) and payloads (sandbox with rate limiting off); ingest answers only
   after the broker's acknowledgement, so single calls are bound by that round trip;
2. delivered events/s with a backlog, against the ceiling ``limit x (1 - headroom) x events per batch``;
3. end-to-end delay (ingest -> sandbox, p50/p99 from the sender's histogram) at half the ceiling.

``python benchmarks/bench_pipeline.py [--quick] [--batch-operations 50] [--seconds 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import orjson  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from plumbing.budget import HEADROOM, request_budget  # noqa: E402
from runs.processes import ManagedProcess, start_service  # noqa: E402
from tests.support.kafka import running_broker  # noqa: E402
from tests.support.redis import running_redis  # noqa: E402
from tests.support.sandbox import admin_call, running_sandbox  # noqa: E402

LIMIT = 100
AUTH = "Basic " + base64.b64encode(b"demo-site:demo-track-key").decode()
HEADERS = {"Authorization": AUTH, "Content-Type": "application/json"}


def _op(n: int) -> dict:
    return {"type": "person", "action": "event", "identifiers": {"id": f"p{n % 1000}"}, "name": "bench",
            "id": f"b-{n}", "attributes": {"n": n, "sent": time.time()}}  # fmt: skip


async def _flood(url: str, seconds: float, per_request: int, concurrency: int = 64) -> tuple[float, float]:
    """(accepted requests/s, accepted events/s) sending as fast as answered."""
    counter = iter(range(10**9))
    ok = [0]
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:

        async def worker() -> None:
            while time.monotonic() < deadline:
                n = next(counter)
                if per_request == 1:
                    path, body = f"/api/v1/customers/p{n % 1000}/events", {"name": "bench", "data": {"n": n}}
                else:
                    path, body = (
                        "/api/v2/batch",
                        {"batch": [_op(n * per_request + i) for i in range(per_request)]},
                    )
                async with http.post(url + path, data=orjson.dumps(body), headers=HEADERS) as r:
                    await r.read()
                    ok[0] += r.status == 200

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return ok[0] / elapsed, ok[0] * per_request / elapsed


async def _paced(url: str, events_per_s: float, seconds: float, per_request: int = 10) -> int:
    interval = per_request / events_per_s
    sent = 0
    tasks = []
    async with aiohttp.ClientSession() as http:

        async def one(start: int) -> None:
            body = {"batch": [_op(start + i) for i in range(per_request)]}
            async with http.post(url + "/api/v2/batch", data=orjson.dumps(body), headers=HEADERS) as r:
                await r.read()

        began = time.monotonic()
        while time.monotonic() - began < seconds:
            tasks.append(asyncio.ensure_future(one(10**7 + sent)))
            sent += per_request
            await asyncio.sleep(max(0.0, began + (sent / per_request) * interval - time.monotonic()))
        await asyncio.gather(*tasks)
    return sent


def _metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:  # noqa: S310 - loopback
        text = r.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = s.name + ("{" + s.labels["le"] + "}" if "le" in s.labels else "")
            out[key] = s.value
    return out


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


def _track_counter(sandbox_url: str, counter: str) -> int:
    stats = admin_call(sandbox_url, "stats")
    return int(stats["workspaces"]["demo-site"]["apis"]["track"].get(counter, 0))


def _drain_rate(sandbox_url: str, total_events: int, timeout: float) -> tuple[float, float, int]:
    """Delivered events/s and requests/s between 10% and 90% of ``total_events`` arriving."""
    samples = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ops = _track_counter(sandbox_url, "operations_accepted")
        samples.append((time.monotonic(), ops, _track_counter(sandbox_url, "requests")))
        if ops >= total_events:
            break
        time.sleep(0.1)
    t10 = next(s for s in samples if s[1] >= total_events * 0.1)
    t90 = next((s for s in samples if s[1] >= total_events * 0.9), samples[-1])
    span = t90[0] - t10[0]
    return (t90[1] - t10[1]) / span, (t90[2] - t10[2]) / span, _track_counter(sandbox_url, "rate_limited")


def run(args: argparse.Namespace) -> list[tuple[str, str]]:
    logs = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    rows: list[tuple[str, str]] = []
    flood_s = 3.0 if args.quick else 5.0
    with ExitStack() as stack:
        broker = stack.enter_context(running_broker(logs))
        redis_url = stack.enter_context(running_redis())
        broker.create_topics("flood", "events", partitions=6)
        broker.create_topics("dlq", partitions=1)
        kafka = ["--bootstrap-servers", broker.bootstrap]

        # 1. ingest vs sandbox, same client, same payloads
        raw = stack.enter_context(running_sandbox("--rate-mode", "off", log_dir=logs))
        flood_ingest = stack.enter_context(
            start_service("ingest-flood", ["pipeline", "ingest", "--port", "0", *kafka, "--topic", "flood"],
                          log_dir=logs))  # fmt: skip
        for label, per in (("v1 single event", 1), ("v2 batch of 100", 100)):
            i_req, i_ev = asyncio.run(_flood(flood_ingest.url, flood_s, per))
            s_req, s_ev = asyncio.run(_flood(raw.url, flood_s, per))
            rows.append((f"ingest accepted events/s ({label})", f"{i_ev:,.0f}"))
            rows.append((f"sandbox accepted events/s ({label}, no rate limit)", f"{s_ev:,.0f}"))
            rows.append((f"ingest / sandbox ({label})", f"{i_ev / s_ev:.2f}"))
        flood_ingest.stop()
        raw.stop()

        # 2. delivered vs ceiling with a backlog
        sandbox = stack.enter_context(running_sandbox("--rate-limit", f"track={LIMIT}", log_dir=logs))
        ingest = stack.enter_context(
            start_service(
                "ingest", ["pipeline", "ingest", "--port", "0", *kafka, "--topic", "events"], log_dir=logs
            )
        )
        sender_argv = ["pipeline", "sender", "--metrics-port", "0", *kafka, "--topic", "events",
                       "--dead-letter-topic", "dlq", "--target", sandbox.url, "--redis-url", redis_url,
                       "--rate-limit", str(LIMIT), "--headroom", str(args.headroom), "--session-timeout-ms", "6000",
                       "--max-batch-operations", str(args.batch_operations), "--linger-ms", "100"]  # fmt: skip
        senders = [
            stack.enter_context(start_service(f"sender{i}", sender_argv, log_dir=logs)) for i in range(2)
        ]
        time.sleep(5)  # consumer group join (about half the session timeout, twice)
        ceiling = request_budget(LIMIT, args.headroom) * args.batch_operations
        backlog = int(ceiling * args.seconds)
        started = time.monotonic()
        per = 100
        calls = [{"batch": [_op(n) for n in range(i, min(i + per, backlog))]} for i in range(0, backlog, per)]
        asyncio.run(_post_all(ingest.url, calls))
        load_s = time.monotonic() - started
        delivered, req_rate, limited = _drain_rate(sandbox.url, backlog, timeout=args.seconds * 4 + 30)
        rows.append((f"backlog of {backlog:,} events loaded through ingest in", f"{load_s:.1f} s"))
        rows.append(
            (
                f"ceiling ({LIMIT} req/s x (1 - {args.headroom}) x {args.batch_operations} events)",
                f"{ceiling:,.0f} events/s",
            )
        )
        rows.append(("delivered events/s (2 senders, backlog)", f"{delivered:,.0f}"))
        rows.append(("delivered / ceiling", f"{delivered / ceiling:.1%}"))
        rows.append(("sandbox Track requests/s during the drain (budget 100)", f"{req_rate:.1f}"))
        rows.append(("sandbox 429 answers", str(limited)))

        # 3. delay below saturation
        before = _delay_buckets(senders)
        rate = ceiling * 0.5
        sent = asyncio.run(_paced(ingest.url, rate, args.seconds / 2))
        _wait_ops(sandbox.url, backlog + sent, timeout=30)
        time.sleep(1.5)
        after = _delay_buckets(senders)
        delta = {le: after[le] - before.get(le, 0) for le in after}
        rows.append(
            (
                f"end-to-end delay p50 at {rate:,.0f} events/s (50% of ceiling)",
                f"{_quantile(delta, 0.5) * 1000:.0f} ms",
            )
        )
        rows.append(
            (f"end-to-end delay p99 at {rate:,.0f} events/s", f"{_quantile(delta, 0.99) * 1000:.0f} ms")
        )
        for name, n in ((100, 100), (500, 500), (1000, 1000)):
            rows.append(
                (
                    f"ceiling on paper, {name} events per batch",
                    f"{request_budget(LIMIT, args.headroom) * n:,.0f} events/s",
                )
            )
    return rows


async def _post_all(url: str, bodies: list[dict], concurrency: int = 8) -> None:
    queue = list(reversed(bodies))
    async with aiohttp.ClientSession() as http:

        async def worker() -> None:
            while queue:
                body = queue.pop()
                async with http.post(url + "/api/v2/batch", data=orjson.dumps(body), headers=HEADERS) as r:
                    await r.read()
                    if r.status == 503:
                        queue.append(body)
                        await asyncio.sleep(0.2)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def _wait_ops(sandbox_url: str, total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _track_counter(sandbox_url, "operations_accepted") < total and time.monotonic() < deadline:
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="shorter phases (about 40 s in all)")
    p.add_argument("--batch-operations", type=int, default=50, help="events per batch request (default 50)")
    p.add_argument("--headroom", type=float, default=HEADROOM.default, help=HEADROOM.help_text)
    p.add_argument("--seconds", type=float, default=None, help="backlog length in seconds at the ceiling")
    args = p.parse_args(argv)
    args.seconds = args.seconds or (6.0 if args.quick else 15.0)
    rows = run(args)
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
