"""Event ids are valid ULIDs of the given millisecond, and unique however many are taken at once."""

from __future__ import annotations

from ulid import ULID

from pipeline.ids import UlidSource, new_ulids


def test_ids_are_valid_unique_ulids_of_their_millisecond() -> None:
    source = UlidSource()
    ids = [source.take(1, 1_700_000_000_123)[0] for _ in range(1500)] + source.take(3000, 1_700_000_000_123)
    ids += source.take(5, 1_700_000_000_124) + new_ulids(2000, 1_700_000_000_124)
    assert len(set(ids)) == len(ids) == 6505
    for text in ids[:: len(ids) // 50]:
        ulid = ULID.from_str(text)
        assert str(ulid) == text and len(text) == 26
        assert int(ulid.timestamp * 1000) in (1_700_000_000_123, 1_700_000_000_124)
    assert new_ulids(0) == [] and len(new_ulids(1)[0]) == 26


def test_ids_of_consecutive_milliseconds_carry_their_own_time() -> None:
    """The time's upper characters are kept for 1,024 ms: across that boundary each id still decodes
    to its own millisecond, and all are unique."""
    source = UlidSource()
    start = 1_700_000_000_000  # 2,100 consecutive milliseconds cross at least one 1,024 ms boundary
    ids = {ms: source.take(2, ms) for ms in range(start, start + 2100)}
    assert len({i for pair in ids.values() for i in pair}) == 2 * 2100
    for ms, pair in list(ids.items())[::7]:
        assert all(ULID.from_str(i).milliseconds == ms for i in pair)
