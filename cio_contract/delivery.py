"""Delivery ids: how a call from the traffic model carries the id that proves it arrived.

Customer.io's own id fields carry it where they exist: an event's ``id``, a v2 operation's ``id``,
a Pipelines message's ``messageId``. Calls without one (identify, devices, transactional sends) get
the attribute :data:`DELIVERY_ID_ATTRIBUTE` in the payload: a forwarding integration copies
payloads, not headers, so that is what survives the trip to the sandbox. Every id is a ULID, whose
first 48 bits are the millisecond it was made: the send time travels with it.
"""

from __future__ import annotations

__all__ = ["DELIVERY_ID_ATTRIBUTE", "ULID_LENGTH", "is_ulid", "ulid_ms"]

DELIVERY_ID_ATTRIBUTE = "load_test_id"
ULID_LENGTH = 26
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DIGITS = frozenset(_CROCKFORD)
_VALUE = {c: i for i, c in enumerate(_CROCKFORD)}


def is_ulid(value: object) -> bool:
    """True for a 26-digit upper-case Crockford ULID (the only ids delivery accounting tracks)."""
    return (
        isinstance(value, str) and len(value) == ULID_LENGTH and value[0] <= "7" and _DIGITS.issuperset(value)
    )


def ulid_ms(value: str) -> int:
    """The unix millisecond encoded in a ULID's first ten digits."""
    ms = 0
    for char in value[:10]:
        ms = ms * 32 + _VALUE[char]
    return ms
