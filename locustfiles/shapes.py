"""Locust ``LoadTestShape`` classes over the pure schedules in :mod:`locustfiles.schedule`.

``OptionShape`` follows ``--shape`` (so ``locust.conf`` or the command line picks the shape); the
named classes fix one shape each, for ``--class-picker`` in the web UI. Settings are read from the
master's parsed options at the first tick of each run, never at import time.
"""

from __future__ import annotations

from locust import LoadTestShape

import logging
from typing import ClassVar

from locustfiles.options import Settings, settings_from
from locustfiles.schedule import SCHEDULES, ProbeState, Tick, probe
from plumbing.failures import RATE_LIMITED

__all__ = [
    "ArrivalRateShape",
    "OptionShape",
    "RateLimitProbeShape",
    "SoakShape",
    "SpikeShape",
    "StagesShape",
    "StepShape",
    "observe_runner",
]

log = logging.getLogger(__name__)


class OptionShape(LoadTestShape):
    """The shape named by ``--shape`` (``none`` = Locust's own -u, -r and -t)."""

    use_common_options = True
    fixed: ClassVar[str | None] = None

    def __init__(self) -> None:
        super().__init__()
        self._settings: Settings | None = None
        self.probe_state = ProbeState()

    def reset_time(self) -> None:
        super().reset_time()
        self._settings = None
        self.probe_state = ProbeState()

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            assert self.runner is not None, "Locust sets the runner before the first tick"
            env = self.runner.environment
            if self.fixed and env.parsed_options is not None:
                # Travels to the workers with the next spawn message, so their pacing matches.
                env.parsed_options.shape = self.fixed
            self._settings = settings_from(env.parsed_options, host=env.host)
        return self._settings

    @property
    def shape_name(self) -> str:
        return self.fixed or self.settings.shape

    def tick(self) -> Tick:
        t = self.get_run_time()
        if self.shape_name == "probe":
            return probe(self.settings, t, self.probe_state, lambda: observe_runner(self.runner))
        return SCHEDULES[self.shape_name](self.settings, t)


def observe_runner(runner: object) -> tuple[int, int, dict[int, int]]:
    """``(requests, 429s, response-time histogram)`` from the (master's aggregated) stats."""
    stats = runner.stats  # type: ignore[attr-defined]
    limited = sum(e.occurrences for e in stats.errors.values() if RATE_LIMITED in str(e.error))
    return stats.total.num_requests, limited, dict(stats.total.response_times)


class StagesShape(OptionShape):
    """k6-style stages from ``--stages`` (a DURATION:USERS list or a YAML/JSON file)."""

    fixed = "stages"


class StepShape(OptionShape):
    """``--shape-steps`` equal steps up to ``--shape-users``."""

    fixed = "step"


class SpikeShape(OptionShape):
    """Base users with one spike to ``--shape-users``."""

    fixed = "spike"


class SoakShape(OptionShape):
    """Ramp to ``--shape-users`` and hold for ``--shape-duration``."""

    fixed = "soak"


class ArrivalRateShape(OptionShape):
    """Holds ``--target-rate`` requests per second (open-model pacing)."""

    fixed = "arrival"


class RateLimitProbeShape(OptionShape):
    """Raises the rate until 429s or latency appear; reports the highest rate that held."""

    fixed = "probe"
