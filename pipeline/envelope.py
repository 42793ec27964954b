"""The Kafka message format between ingest and sender, and its conversion to a v2 batch operation.

An envelope keeps the accepted call as it arrived (workspace, endpoint, path, params, body) plus the
event id and the ingest time, so the sender can turn it into a ``/api/v2/batch`` operation, or replay
it as the original v1 request when v2 cannot carry it (anonymous events, operations over 32 KB).
A v2 call's operations travel as one ``v2_ops`` message per partition (``Envelope.split`` unpacks it;
``read_operations`` is the sender's hot path for them: each operation's JSON as it arrived, unparsed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import orjson

__all__ = [
    "MANY_OPERATIONS",
    "Envelope",
    "Operations",
    "person_key",
    "read_operations",
    "to_operation",
    "v1_identifiers",
]

MANY_OPERATIONS = "v2_ops"
"""The endpoint of a message holding several v2 operations (see ``Envelope.encode_operations``)."""
# v1 calls that carry an event and therefore an event id (Customer.io deduplicates by it).
_EVENT_ENDPOINTS = frozenset({"track", "track_anonymous"})


@dataclass(frozen=True)
class Envelope:
    workspace: str
    endpoint: str
    """A ``cio_contract`` endpoint name, or ``v2_op`` for one operation of a v2 entity/batch call."""
    method: str
    path: str
    params: dict[str, str]
    body: Any
    event_id: Any
    """The event id (str or None); for ``v2_ops`` the list of the operations' ids."""
    received_ms: int

    def encode(self) -> bytes:
        return self.encode_call(self.workspace, self.endpoint, self.method, self.path, self.params,
                                self.body, self.event_id, self.received_ms)  # fmt: skip

    @staticmethod
    def encode_call(workspace: str, endpoint: str, method: str, path: str, params: dict[str, str],
                    body: Any, event_id: str | None, received_ms: int) -> bytes:  # fmt: skip
        """``Envelope(...).encode()`` without building the (frozen, so slow to build) object: ingest's
        hot path for v1 calls."""
        return orjson.dumps(
            {"w": workspace, "e": endpoint, "m": method, "p": path, "a": params, "b": body, "id": event_id,
             "t": received_ms}
        )  # fmt: skip

    @staticmethod
    def encode_operations(workspace: str, operations: list[Any], event_ids: list[str | None],
                          received_ms: int) -> bytes:  # fmt: skip
        """One message for several operations of a v2 call (those bound for one partition): endpoint
        ``v2_ops``, the operations and their event ids as lists. ``split`` gives back one ``v2_op``
        envelope per operation, so the sender batches them as before; ingest pays one message and
        one encode per (call, partition) instead of per operation."""
        return orjson.dumps(
            {"w": workspace, "e": MANY_OPERATIONS, "m": "POST", "p": "/api/v2/batch", "a": {},
             "b": operations, "id": event_ids, "t": received_ms}
        )  # fmt: skip

    @classmethod
    def decode(cls, raw: bytes) -> Envelope:
        """Raises ValueError (orjson.JSONDecodeError or KeyError-as-ValueError) on a foreign message."""
        return cls.from_mapping(orjson.loads(raw))

    @classmethod
    def from_mapping(cls, data: Any) -> Envelope:
        """The envelope of a decoded message; ValueError when it is not one."""
        try:
            return cls(
                data["w"], data["e"], data["m"], data["p"], data["a"], data["b"], data["id"], data["t"]
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a pipeline envelope (missing {exc})") from None

    def split(self) -> list[Envelope]:
        """One envelope per call: a ``v2_ops`` message's operations each as a ``v2_op`` envelope.

        Raises ValueError when the operations and their ids do not pair up (a foreign message)."""
        if self.endpoint != MANY_OPERATIONS:
            return [self]
        ops, ids = self.body, self.event_id
        if not isinstance(ops, list) or not isinstance(ids, list) or len(ops) != len(ids) or not ops:
            raise ValueError("not a pipeline envelope (v2_ops without one id per operation)")
        ws, t = self.workspace, self.received_ms
        return [
            Envelope(ws, "v2_op", "POST", "/api/v2/batch", {}, op, i, t)
            for op, i in zip(ops, ids, strict=True)
        ]

    @property
    def age(self) -> float:
        return time.time() - self.received_ms / 1000


class Operations(msgspec.Struct, gc=False):
    """A ``v2_ops`` message as the sender's hot path reads it. Each operation stays the JSON text it
    arrived as (``msgspec.Raw``: its syntax checked, no object built), so a request body is a join of
    them: no decode and re-encode per event."""

    workspace: str = msgspec.field(name="w")
    endpoint: Literal["v2_ops"] = msgspec.field(name="e")
    operations: list[msgspec.Raw] = msgspec.field(name="b")
    event_ids: list[msgspec.Raw] = msgspec.field(name="id")
    received_ms: int = msgspec.field(name="t")


_OPERATIONS = msgspec.json.Decoder(Operations)
_MANY_OPERATIONS_TEXT = orjson.dumps(MANY_OPERATIONS)
_OBJECT = ord("{")


def read_operations(raw: bytes, max_operation_bytes: int) -> Operations | None:
    """The operations of ``raw`` when it is a well-formed ``v2_ops`` message whose operations are all
    JSON objects of at most ``max_operation_bytes``; None for anything else (another endpoint, an
    operation v2 cannot carry, a foreign or malformed message), which ``Envelope.decode`` then judges.

    Accepts what orjson would, except numbers beyond a double's range (``1e400``), which only a
    foreign producer writes (ingest encodes with orjson): those reach the target, which judges them."""
    if _MANY_OPERATIONS_TEXT not in raw:  # a v1 call's message: spare it a failed decode (~2 µs)
        return None
    try:
        message = _OPERATIONS.decode(raw)
        if not raw.isascii():
            raw.decode()  # msgspec leaves the UTF-8 of text it keeps raw unchecked; orjson refuses it
    except (ValueError, RecursionError):  # msgspec.DecodeError and UnicodeDecodeError are ValueErrors
        return None
    ops = message.operations
    if not ops or len(message.event_ids) != len(ops):
        return None
    # A Raw holds one value without the whitespace around it: an object starts with "{".
    if not all(len(op) <= max_operation_bytes and memoryview(op)[0] == _OBJECT for op in ops):
        return None
    return message


def v1_identifiers(path_id: str) -> dict[str, str]:
    """v1 infers the identifier type from its shape (reference section 1); v2 names it."""
    if path_id.startswith("cio_"):
        return {"cio_id": path_id[4:]}
    if "@" in path_id:
        return {"email": path_id}
    return {"id": path_id}


def person_key(endpoint: str, params: dict[str, str], body: Any) -> str:
    """The Kafka key: one person's calls share a partition, so their order is kept."""
    if "id" in params:
        return params["id"]
    if not isinstance(body, dict):
        return ""
    if endpoint == "track_anonymous":
        return str(body.get("anonymous_id") or body.get("id") or "")
    if endpoint == "merge_customers":
        return _first_value(body.get("primary"))
    ids = body.get("identifiers")
    if endpoint == "v2_op" and isinstance(ids, dict):
        if "object_id" in ids:
            return f"{ids.get('object_type_id')}:{ids['object_id']}"
        return _first_value(ids)
    return _first_value(body.get("primary"))


def _first_value(mapping: Any) -> str:
    if isinstance(mapping, dict) and mapping:
        return str(next(iter(mapping.values())))
    return ""


def is_event(endpoint: str, body: Any) -> bool:
    if endpoint in _EVENT_ENDPOINTS:
        return True
    return (
        endpoint == "v2_op" and isinstance(body, dict) and body.get("action") in ("event", "page", "screen")
    )


def to_operation(env: Envelope) -> dict[str, Any] | None:
    """The v2 operation for ``env``, or None when only the original v1 request can carry it."""
    body, name = env.body, env.endpoint
    if name == "v2_op":
        return body if isinstance(body, dict) else None
    if name == "merge_customers":
        return {
            "type": "person",
            "action": "merge",
            "primary": body["primary"],
            "secondary": body["secondary"],
        }
    if name == "track_anonymous" or "id" not in env.params:
        return None
    op: dict[str, Any] = {"type": "person", "identifiers": v1_identifiers(env.params["id"])}
    if name == "identify":
        attributes = dict(body)
        stamp = attributes.pop("_timestamp", None)
        op.update(action="identify", attributes=attributes)
        if stamp is not None:
            op["timestamp"] = stamp
    elif name in ("delete", "suppress", "unsuppress"):
        op["action"] = name
    elif name == "track":
        _event_fields(op, body)
    elif name == "add_device":
        op.update(action="add_device", device=_v2_device(body["device"]))
    elif name == "delete_device":
        op.update(action="delete_device", device={"token": env.params["device_id"]})
    else:
        return None
    return op


def _event_fields(op: dict[str, Any], body: dict[str, Any]) -> None:
    op["action"] = body.get("type", "event")
    op["name"] = body["name"].strip()
    if body.get("data") is not None:
        op["attributes"] = body["data"]
    for key in ("id", "timestamp"):
        if body.get(key) is not None:
            op[key] = body[key]


def _v2_device(device: dict[str, Any]) -> dict[str, Any]:
    out = {"token": device["id"], "platform": device["platform"]}
    for key in ("last_used", "attributes"):
        if key in device:
            out[key] = device[key]
    return out
