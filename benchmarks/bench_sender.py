"""The sender's CPU per event from a ``v2_ops`` message to a request body, side by side in one run.

Messages are what ingest writes for v2 batches of 100 (one ``v2_ops`` message per partition of 6, about
17 operations each, the same operations as ``bench_pipeline.py``'s backlog). Two ways from message to
``/api/v2/batch`` bodies of 500 operations, timed in alternating rounds (CPU time, so other processes
on a shared machine slow both alike):

- **re-encoded**: the message decoded with orjson and every operation encoded again (the sender's
  path until session 4, kept here as the reference);
- **raw**: ``pipeline.envelope.read_operations`` (msgspec: the operations stay the JSON text they
  arrived as) and a join of those bytes (the sender's path now).

Both are checked to give bodies equal in meaning first. Also: the cost a v1 call's message pays for
being tried on the hot path first. Goal: raw >= 2x faster per event.

``python benchmarks/bench_sender.py [--quick] [--rounds N] [--json FILE]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import orjson
from record import Record, add_json_option  # a sibling script (its own directory comes first)

from cio_contract import DEFAULT_LIMITS
from pipeline.envelope import Envelope, read_operations
from pipeline.ids import new_ulids
from pipeline.kafka import partition_of

OPERATION_BYTES = DEFAULT_LIMITS.v2_operation_bytes
PER_BODY = 500
_OPEN, _CLOSE = b'{"batch":[', b"]}"


def _messages(events: int, partitions: int = 6) -> list[bytes]:
    now = int(time.time() * 1000)
    out = []
    for first in range(0, events, 100):
        groups: dict[int, tuple[list[dict], list[str | None]]] = {}
        for n, event_id in zip(range(first, first + 100), new_ulids(100, now), strict=True):
            op = {"type": "person", "action": "event", "identifiers": {"id": f"p{n % 1000}"}, "name": "bench",
                  "id": event_id, "attributes": {"n": n, "sent": time.time()}}  # fmt: skip
            group = groups.setdefault(partition_of(f"p{n % 1000}".encode(), partitions), ([], []))
            group[0].append(op)
            group[1].append(event_id)
        out += [Envelope.encode_operations("demo-site", ops, ids, now) for ops, ids in groups.values()]
    return out


def _bodies(operations: list[bytes]) -> list[bytes]:
    return [
        b"".join((_OPEN, b",".join(operations[i : i + PER_BODY]), _CLOSE))
        for i in range(0, len(operations), PER_BODY)
    ]


def re_encoded(messages: list[bytes]) -> list[bytes]:
    operations: list[bytes] = []
    for raw in messages:
        encoded = [orjson.dumps(op) for op in orjson.loads(raw)["b"]]
        if all(0 < len(op) <= OPERATION_BYTES for op in encoded):
            operations += encoded
    return _bodies(operations)


def raw(messages: list[bytes]) -> list[bytes]:
    operations: list = []
    for message in messages:
        read = read_operations(message, OPERATION_BYTES)
        if read is not None:
            operations += read.operations
    return _bodies(operations)


def _cpu(work: Callable[[], object]) -> float:
    began = time.process_time()
    work()
    return time.process_time() - began


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="20,000 events and 5 rounds (default 100,000 and 15)")
    p.add_argument("--rounds", type=int, default=None, help="alternating rounds of each way")
    add_json_option(p)
    args = p.parse_args(argv)
    events = 20_000 if args.quick else 100_000
    rounds = args.rounds or (5 if args.quick else 15)
    record = Record("bench_sender", quick=args.quick, settings={"events": events, "rounds": rounds,
                    "operations_per_body": PER_BODY})  # fmt: skip
    print(
        f"bench_sender: {os.cpu_count()} cores, load average {record.data['load_average_start']}", flush=True
    )
    messages = _messages(events)
    old, new = re_encoded(messages), raw(messages)
    if [orjson.loads(b) for b in old] != [orjson.loads(b) for b in new]:
        print("bench_sender: the two ways gave different bodies")
        return 1
    times: dict[str, list[float]] = {"re-encoded": [], "raw": []}
    for _ in range(rounds):
        times["re-encoded"].append(_cpu(lambda: re_encoded(messages)))
        times["raw"].append(_cpu(lambda: raw(messages)))
    per_event = {way: statistics.median(t) / events * 1e6 for way, t in times.items()}
    v1 = [Envelope.encode_call("demo-site", "track", "POST", f"/api/v1/customers/p{n}/events", {"id": f"p{n}"},
                               {"name": "bench", "data": {"n": n}}, None, 0) for n in range(events)]  # fmt: skip
    tried = statistics.median(
        _cpu(lambda: [read_operations(m, OPERATION_BYTES) for m in v1]) for _ in range(rounds)
    )
    record.add(
        "message to body, re-encoded (orjson decode + encode per operation)", per_event["re-encoded"], "µs"
    )
    record.add("message to body, raw operations (msgspec.Raw, joined)", per_event["raw"], "µs")
    record.add(
        "re-encoded / raw, CPU per event", per_event["re-encoded"] / per_event["raw"], "x", goal=(">=", 2)
    )
    record.add("v1 call message tried on the hot path first", tried / events * 1e6, "µs",
               note="what a v1 call's message pays before it goes the general way")  # fmt: skip
    print("\n" + record.figures_markdown())
    return record.finish(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
