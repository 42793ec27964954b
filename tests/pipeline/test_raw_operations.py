"""The sender's hot path for ``v2_ops`` messages: each operation travels as the JSON text it arrived as
(``read_operations``), so what reaches the target must mean exactly what was produced, and anything
the hot path cannot vouch for must be left to the general way (which judges and dead-letters it)."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from pipeline.batching import BATCH_OVERHEAD, Batch, Batcher, Item
from pipeline.envelope import Envelope, read_operations
from pipeline.offsets import PartitionOffsets
from tests.pipeline.conftest import Topics
from tests.pipeline.harness import start_sender, wait_for_seqs
from tests.support.kafka import Broker
from tests.support.sandbox import running_sandbox

KB = 1024
TEXT = 'Zürich "quoted" back\\slash /slash \n\t\u2028 \u00e9\u0301 日本 😀 \x01'


def _tricky_ops(first: int = 0) -> list[dict[str, Any]]:
    """Person events whose attributes need escapes, non-ASCII text, nesting and odd numbers."""
    return [
        {
            "type": "person",
            "action": "event",
            "identifiers": {"id": f"raw-{i}"},
            "name": "tested",
            "id": f"raw-evt-{i}",
            "attributes": {
                "seq": i,
                "text": TEXT * (i + 1),
                "nested": {"a": [1, {"b": None, "c": [True, False]}], "deeper": {"x": {"y": {"z": []}}}},
                "float": 1.5e-7,
                "big": 12345678901234567,
                "neg": -0.0,
                "empty": {},
            },
        }
        for i in range(first, first + 3)
    ]


def _foreign_encoding(ops: list[Any], ids: list[Any] | None = None, **fields: Any) -> bytes:
    """A ``v2_ops`` message as another JSON encoder writes it: ``\\uXXXX`` escapes (surrogate pairs for
    emoji) and spaces after separators, unlike ingest's orjson."""
    message = {
        "w": "demo-site",
        "e": "v2_ops",
        "m": "POST",
        "p": "/api/v2/batch",
        "a": {},
        "b": ops,
        "id": [op.get("id") for op in ops] if ids is None else ids,
        "t": 1_700_000_000_000,
    }
    message.update(fields)
    return json.dumps(message, ensure_ascii=True).encode()


@pytest.mark.parametrize(
    "encode",
    [
        _foreign_encoding,
        lambda ops: Envelope.encode_operations("demo-site", ops, [op["id"] for op in ops], 1),
    ],
    ids=["foreign-json", "ingest-orjson"],
)
def test_a_batch_body_of_raw_operations_means_what_was_produced(encode: Any) -> None:
    ops = _tricky_ops()
    raw = encode(ops)
    message = read_operations(raw, 32 * KB)
    assert message is not None and message.workspace == "demo-site" and len(message.operations) == 3
    partition = PartitionOffsets("t", 0)
    items = [
        Item(raw, b"k", partition, 7, None, op, 1, message.workspace, message.received_ms)
        for op in message.operations
    ]
    batches = Batcher(2, 500 * KB, 32 * KB, linger=10).add_encoded("demo-site", items)
    assert [len(b.items) for b in batches] == [2]  # the third waits in the open batch
    bodies = [b.request() for b in [*batches, *Batcher(10, 500 * KB, 32 * KB, 10).drain()]]
    assert all(method == "POST" and path == "/api/v2/batch" for method, path, _ in bodies)
    assert orjson.loads(bodies[0][2]) == {"batch": ops[:2]}
    assert len(bodies[0][2]) <= batches[0].nbytes  # the byte budget counts what is sent


@pytest.mark.parametrize(
    "raw",
    [
        Envelope.encode_call(
            "demo-site", "track", "POST", "/api/v1/customers/a/events", {"id": "a"}, {"name": "n"}, None, 1
        ),  # another endpoint
        _foreign_encoding(["not an object"], ["i"]),
        _foreign_encoding([[1, 2]], ["i"]),
        _foreign_encoding([{"pad": "x" * 40 * KB}], ["i"]),  # over the operation limit
        _foreign_encoding([{"a": 1}, {"b": 2}], ["only one id"]),
        _foreign_encoding([], []),
        _foreign_encoding([{"a": 1}], ["i"], t=1.5),
        _foreign_encoding([{"a": 1}], ["i"], t=True),
        _foreign_encoding([{"a": 1}], ["i"], w=["not", "a", "name"]),
        _foreign_encoding([{"k": 1}], ["i"]).replace(b'"k"', b'"\xff"'),  # invalid UTF-8 in an operation
        _foreign_encoding([{"k": 1}], ["i"]).replace(b'"k"', b'"\\ud800"'),  # a lone surrogate
        _foreign_encoding([{"a": 1}], ["i"])[:-1],  # cut short
        _foreign_encoding([{"a": 1}], ["i"]) + b" trailing",
        b'{"w": "demo-site", "e": "v2_ops", "b": [{"k": '
        + b"[" * 5000
        + b"]" * 5000
        + b'}], "id": ["i"], "t": 1}',  # nested past any decoder's depth
        b'{"w": "demo-site", "e": "v2_ops"}',
        b"not an envelope",
    ],
    ids=[
        "v1-call",
        "string-op",
        "array-op",
        "oversize-op",
        "ids-mismatch",
        "no-ops",
        "float-time",
        "bool-time",
        "odd-workspace",
        "bad-utf8",
        "lone-surrogate",
        "truncated",
        "trailing",
        "too-deep",
        "missing-fields",
        "not-json",
    ],
)
def test_read_operations_leaves_what_it_cannot_vouch_for_to_the_general_way(raw: bytes) -> None:
    assert read_operations(raw, 32 * KB) is None


def test_offsets_finish_several_events_of_a_message_at_once() -> None:
    part = PartitionOffsets("t", 0)
    part.add(0, events=17)
    part.add(1, events=3)
    part.finish(1, 3)
    part.finish(0, 16)
    assert part.commit_offset() is None  # one event of offset 0 is still out
    part.finish(0, 1)
    assert part.commit_offset() == 2


@pytest.mark.slow
def test_raw_operations_reach_the_sandbox_meaning_what_was_produced(
    broker: Broker, topics: Topics, redis_url: str, log_dir: Path
) -> None:
    """A foreign encoder's ``v2_ops`` message (escapes, non-ASCII, nesting) and ingest's own: the
    sandbox stores exactly the attributes that were produced."""
    ops = _tricky_ops(0) + _tricky_ops(3)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce(topics.events, _foreign_encoding(ops[:3]), b"raw-0", partition=0)
    value = Envelope.encode_operations(
        "demo-site", ops[3:], [op["id"] for op in ops[3:]], int(time.time() * 1000)
    )
    producer.produce(topics.events, value, b"raw-3", partition=1)
    assert producer.flush(10) == 0
    with (
        running_sandbox(log_dir=log_dir) as sandbox,
        start_sender(broker, topics, sandbox.url, redis_url, log_dir),
    ):
        events = wait_for_seqs(sandbox.url, set(range(6)), timeout=30)
    stored = {e["data"]["seq"]: (e["id"], e["data"]) for e in events}
    assert stored == {op["attributes"]["seq"]: (op["id"], op["attributes"]) for op in ops}


def _placed(batches: list[Batch]) -> list[tuple[list[int], int]]:
    return [([item.offset for item in b.items], b.nbytes) for b in batches]


class _OneByOne:
    """The rule, event by event: a batch closes before the operation that would pass the byte budget
    (never empty) or when it reaches the operation cap."""

    def __init__(self, max_operations: int, max_bytes: int) -> None:
        self.max_operations, self.max_bytes = max_operations, max_bytes
        self.open: tuple[list[int], int] | None = None

    def add(self, offset: int, size: int) -> list[tuple[list[int], int]]:
        closed = []
        if self.open is not None and self.open[1] + size + 1 > self.max_bytes:
            closed.append(self.open)
            self.open = None
        offsets, nbytes = self.open or ([], BATCH_OVERHEAD)
        self.open = (offsets + [offset], nbytes + size + 1)
        if len(self.open[0]) >= self.max_operations:
            closed.append(self.open)
            self.open = None
        return closed


@pytest.mark.parametrize("seed", range(20))
def test_a_message_placed_at_once_batches_as_its_events_one_by_one(seed: int) -> None:
    """``Batcher.add_encoded`` (a message's operations in one call) closes the same batches, with the
    same bytes, as the rule applied event by event, at any fill, operation cap and byte budget."""
    rng = random.Random(seed)
    max_operations, max_bytes = rng.choice([1, 3, 17, 500]), rng.choice([32 * KB, 40 * KB, 475_000])
    batcher = Batcher(max_operations, max_bytes, 32 * KB, linger=10)
    reference = _OneByOne(max_operations, max_bytes)
    partition, offset = PartitionOffsets("t", 0), 0
    for _ in range(30):
        sizes = [rng.choice([2, 100, 5_000, 32 * KB]) for _ in range(rng.randint(1, 40))]
        items = [
            Item(b"m", None, partition, offset := offset + 1, None, b"x" * size, 1, "w") for size in sizes
        ]
        expected = [batch for item in items for batch in reference.add(item.offset, len(item.op or b""))]
        assert _placed(batcher.add_encoded("w", items)) == expected
    assert _placed(batcher.drain()) == ([reference.open] if reference.open else [])
