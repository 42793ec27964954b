"""Per-process state of a run: the parsed settings and the payload pool every user draws from.

Built at ``test_start`` (on workers that is after the master's options arrived), kept on the
Locust environment, and reused across runs while seed and pool size stay the same.
"""

from __future__ import annotations

import gevent
from gevent.event import AsyncResult

import itertools
from dataclasses import dataclass, field
from typing import Any

from locustfiles.options import Settings, settings_from
from locustfiles.payloads import PayloadPool

__all__ = ["TrafficContext", "build_context", "build_pool", "traffic_context"]

_ATTRIBUTE = "cio_traffic"
_BUILDS = "cio_pool_builds"


@dataclass
class TrafficContext:
    settings: Settings
    pool: PayloadPool
    stream_prefix: str
    _streams: itertools.count[int] = field(default_factory=itertools.count)

    def next_stream(self) -> str:
        """A name unique to one user of this run (worker index + user number), for its RNG."""
        return f"{self.stream_prefix}.{next(self._streams)}"


def build_context(environment: Any) -> TrafficContext:
    """Parse settings and (re)build the pool; raises OptionError for bad options."""
    settings = settings_from(environment.parsed_options, host=environment.host)
    pool = _pool(environment, settings.seed, settings.people)
    worker = getattr(environment.runner, "worker_index", 0) if environment.runner else 0
    context = TrafficContext(settings, pool, f"w{worker}")
    setattr(environment, _ATTRIBUTE, context)
    return context


def _pool(environment: Any, seed: int, people: int) -> PayloadPool:
    # One build per (seed, size) and process: a worker's test_start, which comes while the prebuild of
    # its init is still running on a loaded machine, waits for that build instead of starting a second
    # one beside it (two Faker builds fighting for the GIL made the users start twice as late).
    builds: dict[tuple[int, int], AsyncResult] = environment.__dict__.setdefault(_BUILDS, {})
    key = (seed, people)
    if key not in builds:
        builds.clear()  # a pool of other options is not used again
        builds[key] = gevent.get_hub().threadpool.spawn(PayloadPool.build, seed, people)
    return builds[key].get()


def build_pool(seed: int, people: int) -> PayloadPool:
    """``PayloadPool.build`` in a native thread, so the gevent loop keeps running meanwhile."""
    # Faker holds the CPU for about half a second, and for several seconds on a loaded machine. On
    # the gevent loop that stops a worker's heartbeats, and the master drops a worker after three
    # missed beats ("failed to send heartbeat, setting state to missing"). In gevent's threadpool
    # the GIL is handed back every few milliseconds, so heartbeats and the spawn messages go on.
    return gevent.get_hub().threadpool.apply(PayloadPool.build, (seed, people))


def traffic_context(environment: Any) -> TrafficContext:
    """The current context, built on first use when no ``test_start`` ran (library use)."""
    context: TrafficContext | None = getattr(environment, _ATTRIBUTE, None)
    return context if context is not None else build_context(environment)
