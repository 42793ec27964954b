"""Delivery reconciliation: the ids the target acknowledged against the ids that reached the sandbox.

Reads two kinds of file (never a service):

- the acks file (``locust_acks.txt``), written by the Locust master: one ULID a line (27 bytes);
- the arrivals directory, one file per sandbox process (``sandbox.arrivals``): ``<ULID> <unix ms>``
  a line (41 bytes).

Both are fixed-width, so they load straight into numpy arrays of 26-byte ids without a parser; a
last line cut short (a process killed mid-write) is ignored. A ULID's first ten digits are its
send millisecond, so the end-to-end delay of a delivered id is its first arrival minus that.

- **acknowledged**: distinct ids the target answered 2xx for;
- **delivered**: acknowledged ids that arrived at least once;
- **lost**: acknowledged, never arrived (the silent loss);
- **duplicates**: arrivals beyond the first of each id;
- **unacknowledged_delivered**: arrived but never acknowledged (e.g. a retry after a timeout).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import InputError

__all__ = [
    "ACK_RECORD",
    "ARRIVAL_RECORD",
    "Delivery",
    "load_acks",
    "load_arrivals",
    "reconcile",
    "reconcile_files",
]

ACK_RECORD = 27
ARRIVAL_RECORD = 41
_ID = 26
_CROCKFORD = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DIGIT = np.full(256, 255, dtype=np.uint8)
_DIGIT[np.frombuffer(_CROCKFORD, dtype=np.uint8)] = np.arange(32, dtype=np.uint8)
PER_SECOND_COLUMNS = [
    "second",
    "acknowledged",
    "delivered",
    "lost",
    "e2e_p50",
    "e2e_p95",
    "e2e_p99",
    "e2e_max",
]


@dataclass
class Delivery:
    """Totals (``summary.json``'s ``delivery`` block) and the per-send-second table."""

    totals: dict[str, Any]
    per_second: pd.DataFrame
    """One row per second of send time: acknowledged, delivered, lost and e2e percentiles (ms)."""


def _records(path: Path, width: int) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.uint8)
    whole = len(raw) // width * width
    rows = raw[:whole].reshape(-1, width)
    if len(rows) and not (rows[:, -1] == ord("\n")).all():
        raise InputError(path, f"not a file of {width}-byte records; was it written by this suite?")
    return rows


def _ids(rows: np.ndarray, path: Path) -> np.ndarray:
    ids = np.ascontiguousarray(rows[:, :_ID])
    if len(ids) and (_DIGIT[ids] == 255).any():
        raise InputError(path, "holds a record that is not a ULID; delivery files hold only ULIDs")
    return ids.view(f"S{_ID}").ravel()


def load_acks(path: Path) -> np.ndarray:
    """The acknowledged ids (26-byte strings; repeated ones kept)."""
    return _ids(_records(path, ACK_RECORD), path)


def load_arrivals(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, arrival ms)`` of every record in every ``arrivals-*.txt`` of ``directory``."""
    ids, times = [], []
    for path in sorted(directory.glob("arrivals-*.txt")):
        rows = _records(path, ARRIVAL_RECORD)
        ids.append(_ids(rows, path))
        digits = rows[:, _ID + 1 : ARRIVAL_RECORD - 1].astype(np.int64) - ord("0")
        if len(digits) and ((digits < 0) | (digits > 9)).any():
            raise InputError(path, "holds an arrival time that is not a number")
        times.append(digits @ (10 ** np.arange(12, -1, -1, dtype=np.int64)))
    if not ids:
        return np.array([], dtype=f"S{_ID}"), np.array([], dtype=np.int64)
    return np.concatenate(ids), np.concatenate(times)


def send_ms(ids: np.ndarray) -> np.ndarray:
    """The millisecond in each ULID (its first ten base-32 digits)."""
    digits = _DIGIT[ids.view(np.uint8).reshape(-1, _ID)[:, :10]].astype(np.int64)
    return digits @ (32 ** np.arange(9, -1, -1, dtype=np.int64))


def reconcile(acked: np.ndarray, arrived: np.ndarray, arrived_ms: np.ndarray) -> Delivery:
    """Reconcile acknowledged ids with arrivals (see the module docstring for each figure)."""
    acks = np.unique(acked)
    order = np.argsort(arrived_ms, kind="stable")
    seen, first = np.unique(arrived[order], return_index=True)
    first_ms = arrived_ms[order][first]
    delivered_mask = np.isin(acks, seen, assume_unique=True)
    acked_seen = np.isin(seen, acks, assume_unique=True)
    delay = (first_ms - send_ms(seen)).astype(np.float64)
    totals: dict[str, Any] = {
        "acknowledged": int(len(acks)),
        "delivered": int(delivered_mask.sum()),
        "lost": int(len(acks) - delivered_mask.sum()),
        "duplicates": int(len(arrived) - len(seen)),
        "unacknowledged_delivered": int((~acked_seen).sum()),
        "e2e_ms": _percentiles(delay[acked_seen]),
    }
    return Delivery(totals, _per_second(acks, delivered_mask, seen[acked_seen], delay[acked_seen]))


def _percentiles(delay: np.ndarray) -> dict[str, float | None]:
    if not len(delay):
        return {"p50": None, "p95": None, "p99": None, "max": None}
    p50, p95, p99 = np.percentile(delay, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(delay.max())}


def _per_second(acks: np.ndarray, delivered: np.ndarray, seen: np.ndarray, delay: np.ndarray) -> pd.DataFrame:
    counts = pd.DataFrame({"second": send_ms(acks) // 1000, "delivered": delivered})
    table = counts.groupby("second").agg(acknowledged=("delivered", "size"), delivered=("delivered", "sum"))
    table["lost"] = table["acknowledged"] - table["delivered"]
    delays = pd.DataFrame({"second": send_ms(seen) // 1000, "delay": delay}).groupby("second")["delay"]
    for name, q in (("e2e_p50", 0.5), ("e2e_p95", 0.95), ("e2e_p99", 0.99)):
        table[name] = delays.quantile(q)
    table["e2e_max"] = delays.max()
    return table.reset_index()[PER_SECOND_COLUMNS].astype(
        {"acknowledged": "int64", "delivered": "int64", "lost": "int64"}
    )


def reconcile_files(acks_file: Path, arrivals_dir: Path) -> Delivery:
    """Load both sides and reconcile; raises InputError for unusable files."""
    if not arrivals_dir.is_dir():
        raise InputError(arrivals_dir, "no arrivals directory; start the sandbox with --arrivals-dir")
    ids, times = load_arrivals(arrivals_dir)
    return reconcile(load_acks(acks_file), ids, times)
