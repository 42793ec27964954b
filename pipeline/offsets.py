"""Which offsets may be committed: per partition, the end of the contiguous run of finished messages.

Messages finish out of order (batches of different workspaces, retries), but a committed offset means
"everything before it is delivered", so it only moves past a message once all earlier ones finished.
A message holding several events (a v2 call's operations for one partition) finishes with its last.
"""

from __future__ import annotations

from collections import deque

__all__ = ["OffsetTracker", "PartitionOffsets"]


class PartitionOffsets:
    def __init__(self, topic: str, partition: int):
        self.topic = topic
        self.partition = partition
        self.revoked = False
        """Set when the partition is taken away; late completions then change nothing."""
        self._pending: deque[int] = deque()
        self._finished: set[int] = set()
        self._parts: dict[int, int] = {}
        """Events still unfinished, for offsets holding more than one."""
        self._next: int | None = None
        self._committed: int | None = None

    def add(self, offset: int, events: int = 1) -> None:
        self._pending.append(offset)
        if events > 1:
            self._parts[offset] = events

    def finish(self, offset: int, events: int = 1) -> None:
        """``events`` events of ``offset`` finished (the message, once all its events have)."""
        if self.revoked:
            return
        left = self._parts.get(offset)
        if left is not None:
            if left > events:
                self._parts[offset] = left - events
                return
            del self._parts[offset]
        self._finished.add(offset)
        while self._pending and self._pending[0] in self._finished:
            done = self._pending.popleft()
            self._finished.discard(done)
            self._next = done + 1

    def commit_offset(self, force: bool = False) -> int | None:
        """The offset to commit if it moved since the last call (or always, with ``force``)."""
        if self._next is None or (self._next == self._committed and not force):
            return None
        self._committed = self._next
        return self._next

    @property
    def position(self) -> int | None:
        """The first offset not yet finished (None before anything was read)."""
        return self._pending[0] if self._pending else self._next


class OffsetTracker:
    def __init__(self) -> None:
        self._partitions: dict[tuple[str, int], PartitionOffsets] = {}

    def partition(self, topic: str, partition: int) -> PartitionOffsets:
        key = (topic, partition)
        tracked = self._partitions.get(key)
        if tracked is None:
            tracked = self._partitions[key] = PartitionOffsets(topic, partition)
        return tracked

    def position(self, topic: str, partition: int) -> int | None:
        tracked = self._partitions.get((topic, partition))
        return None if tracked is None else tracked.position

    def commits(self, force: bool = False) -> list[tuple[str, int, int]]:
        """``(topic, partition, offset)`` for every partition whose commit point moved."""
        out = []
        for (topic, partition), tracked in self._partitions.items():
            offset = tracked.commit_offset(force)
            if offset is not None:
                out.append((topic, partition, offset))
        return out

    def release(self, keys: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
        """Forget ``keys`` (revoked partitions), returning their final commit points."""
        out = []
        for key in keys:
            tracked = self._partitions.pop(key, None)
            if tracked is None:
                continue
            offset = tracked.commit_offset(force=True)
            tracked.revoked = True
            if offset is not None:
                out.append((key[0], key[1], offset))
        return out
