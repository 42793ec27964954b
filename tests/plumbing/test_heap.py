"""plumbing.heap: start-up objects leave the collector's view, and collections still happen."""

from __future__ import annotations

import gc
import weakref

from plumbing.heap import freeze_startup_objects


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_freezing_keeps_collecting_young_cycles() -> None:
    thresholds = gc.get_threshold()
    try:
        freeze_startup_objects(young_threshold=1_000)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == 1_000
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        churn = [[] for _ in range(5_000)]  # allocations past the threshold: a collection runs by itself
        assert gone() is None, "a cycle made after the freeze was not collected"
        del churn
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
