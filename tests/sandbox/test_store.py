"""The store keeps what it remembers out of the garbage collector's view, and gives it back whole."""

from __future__ import annotations

import gc

from sandbox.store import Store

DATA = {"plan": "pro", "items": [{"sku": "a", "qty": 2}, None], "nested": {"deep": {"x": 1.5}}}


def test_remembered_events_are_not_tracked_by_the_collector() -> None:
    """100,000 remembered events holding parsed data were as many tracked objects, and every full
    collection walked them (150-180 ms pauses of the sandbox's loop at 45,000 events/s)."""
    store = Store(max_events=1000)
    for i in range(1000):
        store.event("demo", f"p{i}", "bought", "event", f"id-{i}", {"n": i, **DATA}, "v2_batch")
    assert not any(gc.is_tracked(event) for event in store.events)


def test_events_come_back_with_their_data_as_sent() -> None:
    store = Store()
    store.event("demo", "p1", "bought", "event", "id-1", DATA, "track")
    store.event("demo", "p1", "viewed", "page", None, "a string", "v2_batch")
    store.event("demo", "p2", "plain", "event", "id-3", None, "track")
    events = store.query_events("demo", "p1", None, 0)
    assert [e["data"] for e in events] == [DATA, "a string"]
    assert events[0] == {"workspace": "demo", "person": "p1", "name": "bought", "type": "event",
                         "id": "id-1", "data": DATA, "endpoint": "track"}  # fmt: skip
    assert store.query_events(None, None, "plain", 0)[0]["data"] is None
    assert [e["name"] for e in store.query_events("demo", None, None, 2)] == ["viewed", "plain"]


def test_data_nested_deeper_than_json_text_allows_is_kept_as_it_came() -> None:
    deep: dict = {}
    inner = deep
    for _ in range(300):  # orjson writes at most 254 levels
        inner["x"] = {}
        inner = inner["x"]
    store = Store()
    store.event("demo", "p1", "deep", "event", "id-1", deep, "track")
    assert store.query_events(None, None, None, 0)[0]["data"] is deep
