"""The arrivals log: which tracked ids reached this sandbox process, and when, at bounded memory.

One append-only file per process, ``arrivals-<index>-<pid>.txt`` in ``--arrivals-dir``, one fixed-width
record per arrival: ``<ULID> <unix ms>\\n`` (41 bytes). Records are buffered and written in batches
(when the buffer passes ``flush_bytes``, and every ``flush_interval`` seconds by the server loop),
so memory stays a few hundred KiB however long the run: a 24-hour run at 1,000 events/s is 3.5 GB of
file and no more memory than a one-minute run. Duplicates are simply repeated records; the
reconciliation in ``analysis.delivery`` counts them exactly. Only ULIDs are recorded (the ids the
traffic model makes); other ids belong to someone else's traffic and cannot be reconciled.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from cio_contract.delivery import is_ulid

__all__ = ["RECORD_BYTES", "ArrivalLog", "arrivals_path"]

RECORD_BYTES = 41


def arrivals_path(directory: str | os.PathLike[str], index: int) -> Path:
    return Path(directory) / f"arrivals-{index}-{os.getpid()}.txt"


class ArrivalLog:
    """Buffered appends of ``(id, arrival ms)`` records to one file."""

    def __init__(self, path: str | os.PathLike[str], flush_bytes: int = 256 * 1024):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._buffer = bytearray()
        self._flush_bytes = flush_bytes
        self.recorded = 0

    def record(self, value: object) -> None:
        """Note that ``value`` arrived now, when it is a tracked id (a ULID)."""
        if not is_ulid(value):
            return
        assert isinstance(value, str)
        self._buffer += b"%s %013d\n" % (value.encode(), int(time.time() * 1000))
        self.recorded += 1
        if len(self._buffer) >= self._flush_bytes:
            self.flush()

    def flush(self) -> None:
        if self._buffer and self._fd >= 0:
            data = bytes(self._buffer)
            self._buffer.clear()
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])

    def close(self) -> None:
        self.flush()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
