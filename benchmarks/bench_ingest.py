"""Benchmark: the ingest service's own capacity next to the sandbox's, with wrk, in one run.

The same wrk Lua bodies as ``bench_sandbox.py`` (v1 identify, v1 track, a v2 batch of 100 events),
64 connections, against (a) the sandbox with rate limits off and (b) ingest in front of a real Tansu
broker, which answers 200 only once the broker acknowledged every event of the call. Runs alternate
ingest, sandbox, sandbox, ingest per scenario so drift on a shared machine hits both alike; each
figure is the better of its two runs.

Figures: events/s (wall clock) and events per CPU-second of the server process ("per core", the
goal's measure: on a shared 2-core machine the wall-clock rate depends on who else runs; librdkafka's
threads are part of ingest's process and counted, the broker is a process of its own and is not),
the broker's CPU per event and ingest's figure with the broker's CPU added (no goal), wrk's own CPU
share (a wrk thread near a whole core would make wrk the limit), and a durability check: the events
in the topic (a v2 call's operations travel several to a message) >= the events wrk saw acknowledged.
Goals: ingest / sandbox per core >= 0.8 on v2 batches, >= 0.5 on v1 singles.

    .venv/bin/python benchmarks/bench_ingest.py [--quick] [--seconds S] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import tempfile
import textwrap
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psutil
from bench_sandbox import LUA  # a sibling script (its own directory comes first on the import path)
from record import Record, add_json_option, missing_tool  # a sibling script

from runs.processes import ManagedProcess, start_service
from runs.services import create_topics, start_tansu

SCENARIOS = {
    "v1 identify": ("identify", 1),
    "v1 track": ("track", 1),
    "v2 batch of 100": ("v2_batch_100", 100),
}
GOALS = {"v1 identify": 0.5, "v1 track": 0.5, "v2 batch of 100": 0.8}
CONNECTIONS = 64
TOPIC = "bench-ingest"


@dataclass
class Run:
    requests_per_s: float
    completed: int
    non_2xx: int
    errors: int
    server_cpu_s: float
    broker_cpu_s: float
    wrk_cpu_s: float
    seconds: float


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children."""
    parent = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [parent, *parent.children(recursive=True)])


def wrk(url: str, lua: str, seconds: float, server: int, broker: int | None) -> Run:
    """One wrk run; CPU of the server (and broker) measured over exactly that run."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(textwrap.dedent(lua))
    try:
        cpu0, broker0 = cpu_seconds(server), cpu_seconds(broker) if broker else 0.0
        wrk0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        out = subprocess.run(
            ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "-s", f.name, url],
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        ).stdout  # fmt: skip
        elapsed = time.monotonic() - started
        cpu, broker_cpu = cpu_seconds(server) - cpu0, (cpu_seconds(broker) - broker0) if broker else 0.0
        wrk1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.unlink(f.name)

    def number(pattern: str) -> int:
        match = re.search(pattern, out)
        return int(match.group(1)) if match else 0

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Run(
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        completed=number(r"(\d+) requests in"),
        non_2xx=number(r"Non-2xx or 3xx responses: (\d+)"),
        errors=sum(int(g) for g in errors.groups()) if errors else 0,
        server_cpu_s=cpu,
        broker_cpu_s=broker_cpu,
        wrk_cpu_s=wrk1.ru_utime + wrk1.ru_stime - wrk0.ru_utime - wrk0.ru_stime,
        seconds=elapsed,
    )


def ingest_statuses(url: str) -> dict[str, int]:
    """Ingest's answers by HTTP status, from its /metrics (a 503 says the broker was too slow)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    return {
        sample.labels["status"]: int(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "pipeline_ingest_requests_total"
    }


def topic_contents(bootstrap: str) -> tuple[int, int]:
    """``(messages, events)`` in the topic: a v2 call's operations travel several to a message."""
    from confluent_kafka import Consumer, TopicPartition

    from pipeline.envelope import MANY_OPERATIONS, Envelope

    marker = f'"e":"{MANY_OPERATIONS}"'.encode()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-ingest-count",
                         "enable.auto.commit": False})  # fmt: skip
    try:
        partitions = consumer.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1] for p in partitions
        }
        consumer.assign([TopicPartition(TOPIC, p, 0) for p, end in ends.items() if end > 0])
        left, events, deadline = dict(ends), 0, time.monotonic() + 120
        while any(end > 0 for end in left.values()) and time.monotonic() < deadline:
            for message in consumer.consume(1000, 1.0):
                if message.error():
                    continue
                value = message.value() or b""
                events += len(Envelope.decode(value).split()) if marker in value else 1
                left[message.partition() or 0] = ends[message.partition() or 0] - (message.offset() or 0) - 1
        return sum(ends.values()), events
    finally:
        consumer.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per run instead of 8 s")
    parser.add_argument("--seconds", type=float, help="seconds per wrk run")
    parser.add_argument("--ingest-arg", action="append", default=[], help="extra option for ingest")
    add_json_option(parser)
    args = parser.parse_args()
    if missing_tool("bench_ingest"):
        return 2
    seconds = args.seconds or (3.0 if args.quick else 8.0)
    record = Record(
        "bench_ingest",
        quick=args.quick,
        settings={"seconds": seconds, "connections": CONNECTIONS, "ingest_args": args.ingest_arg},
    )
    print(f"bench_ingest: {os.cpu_count()} cores, {seconds:g} s per run, load average "
          f"{record.data['load_average_start']}", flush=True)  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp, ExitStack() as stack:
        logs = Path(tmp)
        broker = stack.enter_context(start_tansu(logs))
        bootstrap = str(broker.info["url"])
        create_topics(bootstrap, [TOPIC], partitions=6)
        sandbox: ManagedProcess = stack.enter_context(
            start_service("sandbox", ["sandbox", "--port", "0", "--rate-mode", "off"], log_dir=logs)
        )
        ingest: ManagedProcess = stack.enter_context(
            start_service(
                "ingest",
                [
                    "pipeline",
                    "ingest",
                    "--port",
                    "0",
                    "--bootstrap-servers",
                    bootstrap,
                    "--topic",
                    TOPIC,
                    *args.ingest_arg,
                ],
                log_dir=logs,
            )  # fmt: skip
        )
        broker_pid = broker.pid
        for target in (ingest, sandbox):  # warm-up: connections, caches, the broker's partitions
            wrk(target.url, LUA["identify"], 1, target.pid, None)
        acknowledged = topic_before = topic_contents(bootstrap)[1]
        for label, (script, events) in SCENARIOS.items():
            runs: dict[str, list[Run]] = {"ingest": [], "sandbox": []}
            for name in ("ingest", "sandbox", "sandbox", "ingest"):
                target = ingest if name == "ingest" else sandbox
                run = wrk(
                    target.url, LUA[script], seconds / 2, target.pid, broker_pid if name == "ingest" else None
                )
                runs[name].append(run)
                if name == "ingest":
                    acknowledged += (run.completed - run.non_2xx) * events
            best = {name: max(r, key=lambda run: run.requests_per_s) for name, r in runs.items()}
            per_core = {
                name: max(run.completed * events / max(run.server_cpu_s, 1e-9) for run in r)
                for name, r in runs.items()
            }
            with_broker = max(
                run.completed * events / max(run.server_cpu_s + run.broker_cpu_s, 1e-9)
                for run in runs["ingest"]
            )
            wrk_share = max(run.wrk_cpu_s / run.seconds for r in runs.values() for run in r)
            i, s = best["ingest"], best["sandbox"]
            rows.append((label, i, s, per_core, events))
            record.add(f"ingest {label} events/s", i.requests_per_s * events, "events/s")
            record.add(f"sandbox {label} events/s", s.requests_per_s * events, "events/s")
            record.add(f"ingest {label} events per ingest CPU-s", per_core["ingest"], "events/CPU-s")
            record.add(f"sandbox {label} events per sandbox CPU-s", per_core["sandbox"], "events/CPU-s")
            record.add(
                f"ingest / sandbox {label}, events/s (wall clock)", i.requests_per_s / s.requests_per_s, "x"
            )
            record.add(
                f"ingest / sandbox {label}, events per CPU-s (per core)",
                per_core["ingest"] / per_core["sandbox"], "x", goal=(">=", GOALS[label]),
            )  # fmt: skip
            broker_us = i.broker_cpu_s / max(i.completed * events, 1) * 1e6
            record.add(f"broker CPU per event ({label})", broker_us, "µs")
            record.add(
                f"ingest with the broker's CPU / sandbox {label}, events per CPU-s",
                with_broker / per_core["sandbox"], "x",
                note="not the goal's measure: the sandbox has no broker behind it",
            )  # fmt: skip
            record.add(
                f"wrk CPU per second, busiest run ({label})", wrk_share, "cores", goal=("<", 0.9),
                note="wrk runs one thread: near 1.0 it would be the limit, not the server",
            )  # fmt: skip
            statuses = ingest_statuses(ingest.url)
            record.add(
                f"ingest non-2xx and socket errors ({label})",
                sum(r.non_2xx + r.errors for r in runs["ingest"]), goal=("==", 0),
                note=f"ingest's answers so far by status: {statuses}",
            )  # fmt: skip
        messages, events_stored = topic_contents(bootstrap)
        stored = events_stored - topic_before
        record.add(
            "events acknowledged by ingest (wrk's 2xx x events)", acknowledged - topic_before, "events"
        )
        record.add("events in the topic afterwards", stored, "events")
        record.add("messages in the topic", messages, "messages", note="a v2 call: one per partition")
        record.add(
            "events in the topic / acknowledged (durability)",
            stored / max(acknowledged - topic_before, 1), "x", goal=(">=", 1.0),
        )  # fmt: skip
    print(
        "\n| scenario | ingest events/s | sandbox events/s | ratio | ingest ev/CPU-s | sandbox ev/CPU-s | ratio per core |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, i, s, per_core, events in rows:
        print(f"| {label} | {i.requests_per_s * events:,.0f} | {s.requests_per_s * events:,.0f} | "
              f"{i.requests_per_s / s.requests_per_s:.2f} | {per_core['ingest']:,.0f} | {per_core['sandbox']:,.0f} | "
              f"{per_core['ingest'] / per_core['sandbox']:.2f} |")  # fmt: skip
    return record.finish(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
