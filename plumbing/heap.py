"""Keep the garbage collector off a server's hot path, once its start-up is done.

A busy server allocates short-lived objects by the ten thousand a second (a sender in a drain makes an
item per event and holds ~20,000 in flight). With the default thresholds a collection runs every 700
allocations, and every full one walks all the long-lived start-up objects (libraries, sessions,
metrics) again. Freezing those and collecting the young generation less often keeps collections rare
and short; they still run, so reference cycles are still freed, but only after enough allocations:
a quiet process (a paused sender retrying against a target that is down) allocates so few objects
that garbage cycles wait minutes, however many bytes they hold. So code that makes a cycle per
failure breaks it itself (:func:`clear_exception_frames`), instead of leaving it to the collector.
"""

from __future__ import annotations

import gc
import traceback

__all__ = ["clear_exception_frames", "freeze_startup_objects"]


def freeze_startup_objects(young_threshold: int = 50_000) -> None:
    """Collect once, move every surviving object out of the collector's view (they never die), and
    collect the youngest generation after ``young_threshold`` allocations instead of 700."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young_threshold, 20, 20)


def clear_exception_frames(exc: BaseException) -> None:
    """Drop the local variables of the finished frames in ``exc``'s traceback, and in those of its
    causes and contexts, once it has been handled.

    A failed aiohttp request leaves a reference cycle: the exception's traceback holds the frames
    that raised it, and their locals hold the exception again (aiohappyeyeballs' list of connect
    errors) as well as the request and its body. Only the collector frees such a cycle; cleared
    frames let reference counting free the body at once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)  # skips frames still running (the caller's)
        current = current.__cause__ or current.__context__
