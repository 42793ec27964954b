"""Delivery reconciliation from an acks file and an arrivals directory (files only)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from analysis import InputError
from analysis.delivery import reconcile_files, send_ms

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
T0 = 1_790_000_000_000


def ulid(ms: int, rng: random.Random) -> str:
    value = (ms << 80) | rng.getrandbits(80)
    return "".join(CROCKFORD[(value >> (5 * (25 - i))) & 31] for i in range(26))


def write(tmp_path: Path, acked: list[str], arrivals: dict[str, list[tuple[str, int]]]) -> tuple[Path, Path]:
    acks = tmp_path / "locust_acks.txt"
    acks.write_text("".join(f"{i}\n" for i in acked))
    directory = tmp_path / "arrivals"
    directory.mkdir()
    for name, records in arrivals.items():
        (directory / name).write_text("".join(f"{i} {ms:013d}\n" for i, ms in records))
    return acks, directory


def test_reconcile_counts_lost_duplicates_unacknowledged_and_delay(tmp_path: Path) -> None:
    """Hand-built case: 10 acked over two seconds, 2 never arrive, 1 arrives twice, 1 extra arrives."""
    rng = random.Random(1)
    ids = [ulid(T0 + n * 200, rng) for n in range(11)]  # 5 in the first second, 5 in the next, 1 more
    arrived = [(i, T0 + n * 200 + 30 + n) for n, i in enumerate(ids) if n not in (3, 7)]
    # A duplicate of id 0 later, in a second process's file; id 10 arrives but was never acknowledged.
    acks, directory = write(tmp_path, ids[:10] + ids[:1], {"arrivals-0-1.txt": arrived[:5],
                                                           "arrivals-1-2.txt": [*arrived[5:], (ids[0], T0 + 5000)]})  # fmt: skip
    result = reconcile_files(acks, directory)
    assert result.totals == {
        "acknowledged": 10, "delivered": 8, "lost": 2, "duplicates": 1, "unacknowledged_delivered": 1,
        "e2e_ms": {"p50": pytest.approx(34.5), "p95": pytest.approx(38.65), "p99": pytest.approx(38.93), "max": 39.0},
    }  # fmt: skip
    seconds = result.per_second
    assert seconds["second"].tolist() == [T0 // 1000, T0 // 1000 + 1]
    assert seconds["acknowledged"].tolist() == [5, 5]
    assert seconds["lost"].tolist() == [1, 1]
    # The duplicate's later arrival does not count: delay is measured to the first arrival.
    assert seconds["e2e_max"].tolist() == [34.0, 39.0]


def test_send_time_comes_from_the_ulid() -> None:
    """The first ten ULID digits are the send millisecond (the ULID spec's own example)."""
    import numpy as np

    assert send_ms(np.array([b"01ARZ3NDEKTSV4RRFFQ69G5FAV"], dtype="S26")).tolist() == [1469922850259]


def test_a_record_cut_short_is_ignored_and_a_foreign_file_is_refused(tmp_path: Path) -> None:
    """A killed process leaves half a line: ignored. A file that is not ours: one clear error."""
    rng = random.Random(2)
    one = ulid(T0, rng)
    acks, directory = write(tmp_path, [one], {"arrivals-0-1.txt": [(one, T0 + 5)]})
    with (directory / "arrivals-0-1.txt").open("a") as f:
        f.write(one[:11])
    assert reconcile_files(acks, directory).totals["lost"] == 0
    acks.write_text("not a ulid at all, just some text\n")
    with pytest.raises(InputError, match="27-byte records"):
        reconcile_files(acks, directory)
    with pytest.raises(InputError, match="--arrivals-dir"):
        reconcile_files(acks, tmp_path / "missing")
