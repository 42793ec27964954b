"""Memory shared by all sandbox worker processes: counters, rate-limit state and a versioned JSON blob.

Created once by the parent before it forks the workers, so every process sees the same pages. Counters
use one slot row per process (each process writes only its own row, so increments need no lock) and
readers sum the rows; rate-limit state is read-modify-written under one process-shared lock.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
from typing import Any

__all__ = ["SharedBlob", "SharedIds", "SharedMemory"]

# Control words: faults version, reset generation, processes listening, limits version, worker ports.
CTL_FAULTS = 0
CTL_RESET = 1
CTL_READY = 2
CTL_LIMITS = 3
CTL_PORTS = 4


class SharedBlob:
    """A JSON document all processes can read; writers bump a version so readers know to reload."""

    def __init__(self, size: int, lock: Any):
        self._data = multiprocessing.RawArray(ctypes.c_char, size)
        self._length = multiprocessing.RawValue(ctypes.c_int64, 0)
        self._lock = lock

    def write(self, value: Any) -> None:
        raw = json.dumps(value).encode()
        if len(raw) > len(self._data):
            raise ValueError(f"document is {len(raw)} bytes; at most {len(self._data)} fit")
        with self._lock:
            ctypes.memmove(self._data, raw, len(raw))
            self._length.value = len(raw)

    def read(self) -> Any:
        with self._lock:
            raw = bytes(self._data.raw[: self._length.value])
        return json.loads(raw) if raw else None


class SharedIds:
    """Event ids seen by any process, for exact duplicate detection with ``--processes N``.

    Two open-addressing tables of 64-bit id hashes: inserts go to the current one; when it is half
    full the other is cleared and becomes current. So at least the last ``window`` ids are always
    remembered, memory is fixed, and a lookup is a short probe under the shared lock.
    """

    def __init__(self, window: int, lock: Any):
        size = 1
        while size < 2 * max(window, 16):
            size *= 2
        self._size = size
        self._slots = multiprocessing.RawArray(ctypes.c_int64, 2 * size)
        self._meta = multiprocessing.RawArray(ctypes.c_int64, 2)  # current table, ids in it
        self._lock = lock

    def seen_before(self, key_hash: int) -> bool:
        h = (key_hash & 0x7FFF_FFFF_FFFF_FFFF) or 1
        slots, size, mask = self._slots, self._size, self._size - 1
        with self._lock:
            current = self._meta[0]
            for table in (current, 1 - current):
                base, i = table * size, h & mask
                while (value := slots[base + i]) != 0:
                    if value == h:
                        return True
                    i = (i + 1) & mask
                if table == current:
                    free = base + i
            slots[free] = h
            self._meta[1] += 1
            if self._meta[1] >= size // 2:
                other = 1 - current
                ctypes.memset(ctypes.addressof(slots) + other * size * 8, 0, size * 8)
                self._meta[0], self._meta[1] = other, 0
        return False

    def clear(self) -> None:
        with self._lock:
            ctypes.memset(ctypes.addressof(self._slots), 0, 2 * self._size * 8)
            self._meta[0] = self._meta[1] = 0


class SharedMemory:
    """Everything the workers share; sized from the number of processes and counter cells."""

    def __init__(self, processes: int, counter_cells: int, rate_cells: int, dedup_window: int = 0):
        ctx = multiprocessing.get_context("fork")
        self.processes = processes
        self.counter_cells = counter_cells
        self.lock = ctx.Lock()
        self._counters = multiprocessing.RawArray(ctypes.c_int64, processes * counter_cells)
        self._rate = multiprocessing.RawArray(ctypes.c_double, max(1, rate_cells))
        self._control = multiprocessing.RawArray(ctypes.c_int64, CTL_PORTS + processes)
        self.faults = SharedBlob(256 * 1024, self.lock)
        self.limits = SharedBlob(256 * 1024, self.lock)
        # One process remembers ids in its own store; several need one table they all see.
        self.ids = SharedIds(dedup_window, self.lock) if processes > 1 and dedup_window else None

    def counters(self) -> memoryview:
        # A memoryview indexes about 3x faster than the ctypes array on the request path.
        return memoryview(self._counters).cast("B").cast("q")

    def rate_cells(self) -> Any:
        return memoryview(self._rate).cast("B").cast("d")

    def control(self) -> memoryview:
        return memoryview(self._control).cast("B").cast("q")

    def summed_counters(self) -> list[int]:
        """Every counter cell summed over the process rows."""
        cells = self.counter_cells
        rows = self.counters()
        totals = list(rows[0:cells])
        for p in range(1, self.processes):
            for i, v in enumerate(rows[p * cells : (p + 1) * cells]):
                totals[i] += v
        return totals

    def zero_counters(self) -> None:
        rows = self.counters()
        for i in range(len(rows)):
            rows[i] = 0

    def zero_rate_state(self) -> None:
        with self.lock:
            ctypes.memset(ctypes.addressof(self._rate), 0, ctypes.sizeof(self._rate))
