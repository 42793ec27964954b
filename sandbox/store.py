"""What the sandbox remembers: people with attributes, events, and event ids seen (for duplicates).

Bounded: the oldest events, people and remembered ids are forgotten first once the limits are
reached, so a long run cannot exhaust memory. ``count`` mode keeps no people or events at all (the
counters still count); duplicate detection works in both modes. One store per process; with several
processes the ids seen live in shared memory (``sandbox.shared.SharedIds``) so duplicates stay exact.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any, Protocol

import orjson

__all__ = ["Store"]


def _untracked(data: Any) -> Any:
    """An event's data as the garbage collector need not watch: an object or a list as its JSON.

    A dict holding only strings, numbers and bytes is never tracked by the collector; one holding
    the parsed data is. Remembering the last 100,000 events that way, every full collection walked
    them all: 150-180 ms with the sandbox's loop stopped, every few seconds at 45,000 events/s."""
    if isinstance(data, dict | list):
        try:
            return orjson.dumps(data)  # bytes: never a value of a parsed JSON body
        except orjson.JSONEncodeError:  # nested deeper than orjson writes: kept as it came
            return data
    return data


def _readable(event: dict[str, Any]) -> dict[str, Any]:
    data = event["data"]
    return {**event, "data": orjson.loads(data)} if isinstance(data, bytes) else event


class SeenIds(Protocol):
    def seen_before(self, key_hash: int) -> bool: ...
    def clear(self) -> None: ...


class Store:
    def __init__(self, mode: str = "full", max_events: int = 100_000, max_people: int = 100_000,
                 dedup_window: int = 200_000, shared_ids: SeenIds | None = None):  # fmt: skip
        self.mode = mode
        self.full = mode == "full"
        self._max_people = max_people
        self._dedup_window = dedup_window
        self.events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self.people: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()
        self.duplicates: dict[tuple[str, str], int] = {}
        """Repeats of each duplicated id seen by this process (the first sighting not included)."""
        self._shared_ids = shared_ids

    def clear(self) -> None:
        self.events.clear()
        self.people.clear()
        self._seen.clear()
        self.duplicates.clear()

    def seen_before(self, workspace: str, event_id: Any) -> bool:
        """Remember ``event_id``; True when it was already seen (a duplicate Customer.io ignores)."""
        if not isinstance(event_id, str) or not event_id:
            return False
        key = (workspace, event_id)
        if self._shared_ids is not None:
            # hash() agrees across the forked workers: they share the parent's hash seed.
            if self._shared_ids.seen_before(hash(key)):
                self.duplicates[key] = self.duplicates.get(key, 0) + 1
                return True
            return False
        if key in self._seen:
            self.duplicates[key] = self.duplicates.get(key, 0) + 1
            return True
        self._seen[key] = 1
        if len(self._seen) > self._dedup_window:
            self._seen.popitem(last=False)
        return False

    def person(self, workspace: str, person_id: str) -> dict[str, Any]:
        key = (workspace, person_id)
        record = self.people.get(key)
        if record is None:
            record = {"workspace": workspace, "id": person_id, "attributes": {}, "devices": {},
                      "suppressed": False, "events": 0}  # fmt: skip
            self.people[key] = record
            if len(self.people) > self._max_people:
                self.people.popitem(last=False)
        return record

    def identify(self, workspace: str, person_id: str, attributes: dict[str, Any]) -> None:
        if self.full:
            self.person(workspace, person_id)["attributes"].update(attributes)

    def delete_person(self, workspace: str, person_id: str) -> None:
        if self.full:
            self.people.pop((workspace, person_id), None)

    def event(self, workspace: str, person_id: str | None, name: str, kind: str, event_id: Any,
              data: Any, endpoint: str) -> None:  # fmt: skip
        if not self.full:
            return
        self.events.append(
            {"workspace": workspace, "person": person_id, "name": name, "type": kind,
             "id": event_id if isinstance(event_id, str) else None, "data": _untracked(data), "endpoint": endpoint}
        )  # fmt: skip
        if person_id is not None:
            self.person(workspace, person_id)["events"] += 1

    def device(self, workspace: str, person_id: str, device: dict[str, Any], delete: bool = False) -> None:
        if not self.full:
            return
        devices = self.person(workspace, person_id)["devices"]
        token = str(device.get("id") or device.get("token") or "")
        if delete:
            devices.pop(token, None)
        else:
            devices[token] = device

    def suppress(self, workspace: str, person_id: str, suppressed: bool) -> None:
        if self.full:
            self.person(workspace, person_id)["suppressed"] = suppressed

    def merge(self, workspace: str, primary: str, secondary: str) -> None:
        # The primary must already exist, otherwise nothing happens (reference section 1).
        if not self.full or (workspace, primary) not in self.people:
            return
        other = self.people.pop((workspace, secondary), None)
        if other:
            target = self.people[(workspace, primary)]
            target["attributes"] = {**other["attributes"], **target["attributes"]}
            target["events"] += other["events"]

    def query_events(self, workspace: str | None, person: str | None, name: str | None,
                     limit: int) -> list[dict[str, Any]]:  # fmt: skip
        out = []
        for e in self.events:
            if (workspace and e["workspace"] != workspace) or (person and e["person"] != person):
                continue
            if name and e["name"] != name:
                continue
            out.append(e)
        return [_readable(e) for e in (out[-limit:] if limit else out)]

    def query_people(self, workspace: str | None, person: str | None, limit: int) -> list[dict[str, Any]]:
        out = [p for (ws, pid), p in self.people.items()
               if (not workspace or ws == workspace) and (not person or pid == person)]  # fmt: skip
        return out[-limit:] if limit else out
