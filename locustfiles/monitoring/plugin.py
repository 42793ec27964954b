"""Wire the sampler and the web-UI tab into a Locust environment (master or single process only)."""

from __future__ import annotations

from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

import logging
from typing import Any

from locustfiles.monitoring import status, webui
from locustfiles.monitoring.options import Settings, add_arguments, settings_from
from locustfiles.monitoring.sampler import SystemSampler

__all__ = ["Monitor", "register"]

log = logging.getLogger(__name__)


class Monitor:
    """Starts a :class:`SystemSampler` for each run (``test_start``) and stops it at ``test_stop``."""

    def __init__(self, environment: Environment, settings: Settings):
        self.environment = environment
        self.settings = settings
        self.sampler: SystemSampler | None = None

    def on_test_start(self, **_: Any) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        urls = self.settings.urls_for(_target_host(self.environment))
        self.sampler = SystemSampler(
            urls, self.settings.history_path, interval=self.settings.interval, token=self.settings.token
        )
        self.sampler.start()
        shown = ", ".join(s.shown_url for s in self.sampler.sources) or "none (no metrics endpoint)"
        log.info("Sampling target metrics every %g s from %s", self.settings.interval, shown)

    def on_test_stop(self, **_: Any) -> None:
        # The sampler object stays, so the tab keeps showing the finished run's figures.
        if self.sampler is not None:
            self.sampler.stop()


def _target_host(environment: Environment) -> str | None:
    # --host (or the web form) wins; otherwise the user classes' own host when they agree on one.
    if environment.host:
        return environment.host
    hosts = {getattr(user_class, "host", None) for user_class in environment.user_classes}
    return hosts.pop() if len(hosts) == 1 else None


def register(environment: Environment) -> Monitor | None:
    """Attach monitoring to ``environment``; does nothing on workers or when already attached."""
    if isinstance(environment.runner, WorkerRunner):
        return None
    existing = getattr(environment, "customerio_monitor", None)
    if existing is not None:
        return existing
    monitor = Monitor(environment, settings_from(environment.parsed_options))
    environment.customerio_monitor = monitor  # type: ignore[attr-defined]
    environment.events.test_start.add_listener(monitor.on_test_start)
    environment.events.test_stop.add_listener(monitor.on_test_stop)
    environment.events.quit.add_listener(lambda **_: monitor.on_test_stop())
    if environment.web_ui is not None:
        webui.install(environment.web_ui, environment, lambda: monitor.sampler, monitor.settings.csv_prefix)
    return monitor


@events.init_command_line_parser.add_listener
def _on_parser(parser: Any, **_: Any) -> None:
    add_arguments(parser)  # --status-file among them


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    register(environment)
    status.attach(environment)
