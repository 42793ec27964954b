"""Helpers for pipeline tests: start ingest/sender processes, drive ingest, check what the sandbox got."""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from runs.pipeline import scrape as run_scrape
from runs.pipeline import wait_for_group as run_wait_for_group
from runs.processes import ManagedProcess, start_service
from tests.support.kafka import Broker
from tests.support.sandbox import admin_call

AUTH = "Basic " + base64.b64encode(b"demo-site:demo-track-key").decode()
Call = tuple[str, str, Any]


def start_ingest(
    broker: Broker, topics: Any, log_dir: Path, *extra: str, name: str = "ingest"
) -> ManagedProcess:
    argv = ["pipeline", "ingest", "--port", "0", "--bootstrap-servers", broker.bootstrap,
            "--topic", topics.events, *extra]  # fmt: skip
    return start_service(name, argv, log_dir=log_dir)


def start_sender(broker: Broker, topics: Any, target: str, redis_url: str, log_dir: Path, *extra: str,
                 name: str = "sender") -> ManagedProcess:  # fmt: skip
    argv = ["pipeline", "sender", "--metrics-port", "0", "--bootstrap-servers", broker.bootstrap,
            "--topic", topics.events, "--dead-letter-topic", topics.dead_letters, "--group-id", topics.group,
            "--target", target, "--redis-url", redis_url, "--session-timeout-ms", "6000",
            "--linger-ms", "50", "--backoff-max", "2", *extra]  # fmt: skip
    return start_service(name, argv, log_dir=log_dir)


def event(seq: int, person: str | None = None, with_id: bool = True) -> Call:
    """A v1 track call carrying ``seq`` in its data (and a client event id when ``with_id``)."""
    body: dict[str, Any] = {"name": "tested", "data": {"seq": seq}}
    if with_id:
        body["id"] = f"evt-{seq}"
    return "POST", f"/api/v1/customers/{person or f'p{seq % 50}'}/events", body


async def _send(url: str, calls: list[Call], concurrency: int, deadline: float) -> Counter[int]:
    statuses: Counter[int] = Counter()
    queue: asyncio.Queue[Call] = asyncio.Queue()
    for c in calls:
        queue.put_nowait(c)
    headers = {"Authorization": AUTH, "Content-Type": "application/json"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def worker() -> None:
            while not queue.empty() and time.monotonic() < deadline:
                method, path, body = queue.get_nowait()
                try:
                    async with http.request(
                        method, url + path, data=orjson.dumps(body), headers=headers
                    ) as r:
                        status = r.status
                        retry_after = float(r.headers.get("Retry-After", "0"))
                        await r.read()
                except (TimeoutError, aiohttp.ClientError):
                    status, retry_after = 0, 0.5
                statuses[status] += 1
                if status in (0, 503):  # not kept: the client's job is to retry (same body, same id)
                    queue.put_nowait((method, path, body))
                    await asyncio.sleep(max(retry_after, 0.1))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    statuses[-1] = queue.qsize()  # calls never accepted before the deadline
    return statuses


def send_calls(url: str, calls: Iterable[Call], concurrency: int = 8, timeout: float = 60) -> Counter[int]:
    """Send ``calls`` to ingest, retrying 503/connection errors; status counts (-1 = never accepted)."""
    return asyncio.run(_send(url, list(calls), concurrency, time.monotonic() + timeout))


def sandbox_events(sandbox_url: str) -> list[dict[str, Any]]:
    return list(admin_call(sandbox_url, "events?limit=0&name=tested")["events"])


def wait_for_seqs(sandbox_url: str, expected: set[int], timeout: float) -> list[dict[str, Any]]:
    """Poll the sandbox until every ``seq`` in ``expected`` arrived (or ``timeout``); returns the events."""
    deadline = time.monotonic() + timeout
    while True:
        events = sandbox_events(sandbox_url)
        if expected <= {e["data"]["seq"] for e in events} or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


def assert_all_arrived_once_per_id(events: list[dict[str, Any]], expected: set[int]) -> None:
    """Each seq arrived at least once, and every copy of one seq carries the same event id."""
    ids: dict[int, set[str]] = {}
    for e in events:
        ids.setdefault(e["data"]["seq"], set()).add(e["id"])
    missing = expected - set(ids)
    assert not missing, f"{len(missing)} events lost, e.g. {sorted(missing)[:10]}"
    mixed = {s: i for s, i in ids.items() if len(i) > 1}
    assert not mixed, f"duplicates with different ids: {list(mixed.items())[:5]}"


def scrape(url: str) -> dict[str, float]:
    """``/metrics`` of a pipeline process as ``{"name{labels}": value}`` (label values joined by ',')."""
    return run_scrape(url, labels=True)


def v2_event_batches(count: int, per_request: int = 100, first: int = 0) -> list[Call]:
    """``count`` person events as v2 batch calls of ``per_request`` operations (seq first..first+count-1)."""
    ops = [{"type": "person", "action": "event", "identifiers": {"id": f"p{i % 50}"}, "name": "tested",
            "id": f"evt-{i}", "attributes": {"seq": i}} for i in range(first, first + count)]  # fmt: skip
    return [
        ("POST", "/api/v2/batch", {"batch": ops[i : i + per_request]}) for i in range(0, count, per_request)
    ]


def wait_for_group(senders: list[ManagedProcess], partitions: int, timeout: float = 30) -> None:
    """Wait until the senders together own every partition, stable for one second (group settled)."""
    if not run_wait_for_group(senders, partitions, timeout):
        raise TimeoutError(f"consumer group did not settle on {partitions} partitions within {timeout} s")


class StatsSampler:
    """Samples the sandbox's Track counters ten times a second in a thread (per-second windows)."""

    def __init__(self, sandbox_url: str, workspace: str = "demo"):
        import threading

        self.url = sandbox_url
        self.workspace = workspace
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            stats = admin_call(self.url, "stats")
            track = stats["workspaces"].get(self.workspace, {}).get("apis", {}).get("track", {})
            self.samples.append((time.monotonic(), dict(track)))

    def __enter__(self) -> StatsSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def series(self, counter: str) -> list[tuple[float, int]]:
        return [(t, s.get(counter, 0)) for t, s in self.samples]


def max_per_second(series: list[tuple[float, int]]) -> int:
    """The most counted in any window of at most one second between two samples."""
    best = 0
    for i, (t0, c0) in enumerate(series):
        for t1, c1 in series[i + 1 :]:
            if t1 - t0 > 1.0:
                break
            best = max(best, c1 - c0)
    return best


async def _flood(url: str, seconds: float, concurrency: int, per_request: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    deadline = time.monotonic() + seconds
    headers = {"Authorization": AUTH, "Content-Type": "application/json"}
    counter = iter(range(10**9))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:

        async def worker() -> None:
            while time.monotonic() < deadline:
                ops = [{"type": "person", "action": "event", "identifiers": {"id": f"p{n % 500}"},
                        "name": "flood", "attributes": {"n": n, "pad": "x" * 200}}
                       for n in (next(counter) for _ in range(per_request))]  # fmt: skip
                try:
                    async with http.post(url + "/api/v2/batch", data=orjson.dumps({"batch": ops}),
                                         headers=headers) as r:  # fmt: skip
                        await r.read()
                        statuses[r.status] += per_request
                except (TimeoutError, aiohttp.ClientError):
                    statuses[0] += per_request

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def flood(url: str, seconds: float, concurrency: int = 8, per_request: int = 100) -> Counter[int]:
    """Send v2 batches to ingest as fast as it answers for ``seconds``; events per status."""
    return asyncio.run(_flood(url, seconds, concurrency, per_request))
