"""Group consumed events into requests: ``/api/v2/batch`` bodies within the documented limits.

A batch closes when one more operation would pass the byte budget (``CLIENT_BATCH_BYTES`` by
default, under the 500 KB limit) or the operation cap, or when its first event has waited ``linger``
seconds. Calls that v2 cannot carry (anonymous events, operations over 32 KB) become single requests
replaying the original v1 call. One open batch per workspace, since a batch has one set of credentials.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import msgspec
import orjson

from pipeline.envelope import Envelope
from pipeline.offsets import PartitionOffsets

__all__ = ["Batch", "Batcher", "Item", "BATCH_OVERHEAD"]

_OPEN, _CLOSE = b'{"batch":[', b"]}"
_OPERATION = attrgetter("op")
BATCH_OVERHEAD = len(_OPEN) + len(_CLOSE)


class Item:
    """One consumed event on its way out (a message holding several events gives one item each).

    A plain class with one ``__init__``: a sender makes one per event, and a dataclass's generated
    ``__init__`` plus ``__post_init__`` cost two Python calls each."""

    __slots__ = ("raw", "key", "partition", "offset", "envelope", "op", "size", "workspace", "received_ms")

    def __init__(self, raw: bytes, key: bytes | None, partition: PartitionOffsets, offset: int,
                 envelope: Envelope | None = None, op: bytes | msgspec.Raw | None = None, size: int = -1,
                 workspace: str = "", received_ms: int = 0) -> None:  # fmt: skip
        self.raw = raw
        self.key = key
        self.partition = partition
        self.offset = offset
        self.envelope = envelope
        self.op = op
        """The encoded v2 operation (as it arrived, for a ``v2_ops`` message's), or None when the
        item is sent as its original v1 request."""
        self.size = len(raw) if size < 0 else size
        """Its share of the message's bytes (the in-flight bound); the whole message by default."""
        if envelope is not None:
            workspace, received_ms = envelope.workspace, envelope.received_ms
        self.workspace = workspace
        """The envelope's workspace (given directly when the item has no envelope: a v2 operation)."""
        self.received_ms = received_ms
        """When ingest took the call (the envelope's, when there is one)."""

    def __repr__(self) -> str:
        return f"Item(offset={self.offset}, workspace={self.workspace!r}, size={self.size})"

    def finish(self) -> None:
        self.partition.finish(self.offset)


@dataclass(eq=False)
class Batch:
    workspace: str
    items: list[Item] = field(default_factory=list)
    nbytes: int = BATCH_OVERHEAD
    created: float = field(default_factory=time.monotonic)

    @property
    def single(self) -> bool:
        """True for a v1 replay (exactly one item without a v2 operation)."""
        return len(self.items) == 1 and self.items[0].op is None

    def request(self) -> tuple[str, str, bytes]:
        """``(method, path, body)`` of the HTTP request carrying this batch."""
        if self.single:
            env = self.items[0].envelope
            assert env is not None
            body = b"" if env.body == {} and env.method == "DELETE" else orjson.dumps(env.body)
            return env.method, env.path, body
        operations = b",".join([i.op for i in self.items if i.op])
        return "POST", "/api/v2/batch", b"".join((_OPEN, operations, _CLOSE))

    def with_items(self, items: list[Item]) -> Batch:
        nbytes = BATCH_OVERHEAD + sum(len(i.op or b"") + 1 for i in items)
        return Batch(self.workspace, items, nbytes, self.created)


class Batcher:
    def __init__(self, max_operations: int, max_bytes: int, operation_bytes: int, linger: float):
        self.max_operations = max_operations
        self.max_bytes = max_bytes
        self.operation_bytes = operation_bytes
        self.linger = linger
        self._open: dict[str, Batch] = {}

    def add(self, item: Item, operation: dict[str, Any] | None) -> list[Batch]:
        """Place ``item`` (with its ``operation`` to encode, or ``item.op`` encoded already and
        within the operation limit); returns the batches that are now complete."""
        if operation is not None:
            encoded = orjson.dumps(operation)
            if len(encoded) <= self.operation_bytes:
                item.op = encoded
        if item.op is None:
            return [Batch(item.workspace, [item], 0)]
        return self.add_encoded(item.workspace, [item])

    def add_encoded(self, workspace: str, items: list[Item]) -> list[Batch]:
        """Place ``items`` of ``workspace``, each with its ``op`` set and within the operation limit
        (a ``v2_ops`` message's operations, in one call); returns the batches now complete."""
        ready: list[Batch] = []
        open_batch = self._open.pop(workspace, None) or Batch(workspace)
        max_operations, max_bytes = self.max_operations, self.max_bytes
        cost = sum(map(len, map(_OPERATION, items))) + len(items)
        if len(open_batch.items) + len(items) < max_operations and open_batch.nbytes + cost <= max_bytes:
            # They all fit and the batch stays open (the usual case): what the loop below would do.
            open_batch.items += items
            open_batch.nbytes += cost
            self._open[workspace] = open_batch
            return ready
        batch: Batch | None = open_batch
        for item in items:
            cost = len(item.op or b"") + 1
            if batch is None:
                batch = Batch(workspace)
            elif batch.items and batch.nbytes + cost > max_bytes:
                ready.append(batch)
                batch = Batch(workspace)
            batch.items.append(item)
            batch.nbytes += cost
            if len(batch.items) >= max_operations:
                ready.append(batch)
                batch = None
        if batch is not None:
            self._open[workspace] = batch
        return ready

    def due(self, now: float | None = None) -> list[Batch]:
        """Open batches whose first event has waited ``linger`` seconds."""
        now = time.monotonic() if now is None else now
        expired = [ws for ws, b in self._open.items() if now - b.created >= self.linger]
        return [self._open.pop(ws) for ws in expired]

    def drain(self) -> list[Batch]:
        batches = list(self._open.values())
        self._open.clear()
        return batches
