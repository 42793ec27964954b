"""Per-process state of a run: the parsed settings and the payload pool every user draws from.

Built at ``test_start`` (on workers that is after the master's options arrived), kept on the
Locust environment, and reused across runs while seed and pool size stay the same.
"""

from __future__ import annotations

import gevent

import itertools
from dataclasses import dataclass, field
from typing import Any

from locustfiles.options import Settings, settings_from
from locustfiles.payloads import PayloadPool

__all__ = ["TrafficContext", "build_context", "build_pool", "traffic_context"]

_ATTRIBUTE = "cio_traffic"


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
    previous: TrafficContext | None = getattr(environment, _ATTRIBUTE, None)
    same_pool = previous is not None and previous.pool.seed == settings.seed
    if same_pool and previous is not None and len(previous.pool.people) == settings.people:
        pool = previous.pool
    else:
        pool = build_pool(settings.seed, settings.people)
    worker = getattr(environment.runner, "worker_index", 0) if environment.runner else 0
    context = TrafficContext(settings, pool, f"w{worker}")
    setattr(environment, _ATTRIBUTE, context)
    return context


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
