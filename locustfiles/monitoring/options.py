"""Command-line options of the monitoring package, and where its files go for a given run."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cio_contract import is_customerio_host
from locustfiles.monitoring.scrape import metrics_url_for

__all__ = ["HISTORY_FILE", "Settings", "add_arguments", "settings_from"]

HISTORY_FILE = "system_history.csv"


def add_arguments(parser: Any) -> None:
    """Add the options to Locust's parser (``events.init_command_line_parser``)."""
    group = parser.add_argument_group("Customer.io monitoring", "target-side metrics sampled each second")
    group.add_argument(
        "--metrics-url",
        action="append",
        default=[],
        type=_metrics_url,
        metavar="URL",
        env_var="LOCUST_METRICS_URL",
        help="Also sample this Prometheus /metrics URL each second (pipeline ingest, senders, a "
        "sandbox behind the pipeline). Repeat for several.",
    )
    group.add_argument(
        "--system-history",
        metavar="PATH",
        env_var="LOCUST_SYSTEM_HISTORY",
        help=f"Write the per-second target metrics here (default: {HISTORY_FILE} beside the --csv files).",
    )
    group.add_argument(
        "--no-target-metrics",
        action="store_true",
        env_var="LOCUST_NO_TARGET_METRICS",
        help="Do not sample <host>/metrics (only the --metrics-url endpoints).",
    )
    group.add_argument(
        "--metrics-interval",
        type=_positive_seconds,
        default=1.0,
        metavar="SECONDS",
        env_var="LOCUST_METRICS_INTERVAL",
        help="Seconds between samples (default 1). Each scrape gives up after 80%% of this, at most 0.8 s.",
    )


def _metrics_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an http(s) URL; pass e.g. http://127.0.0.1:9100/metrics"
        )
    if is_customerio_host(value):
        raise argparse.ArgumentTypeError(
            "Customer.io has no metrics endpoint; point this at your own services"
        )
    return value


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0.05 <= seconds <= 60:
        raise argparse.ArgumentTypeError(f"{value!r} must be a number of seconds between 0.05 and 60")
    return seconds


@dataclass(frozen=True)
class Settings:
    """The parsed options, with defaults when Locust runs as a library without parsed options."""

    metrics_urls: tuple[str, ...] = ()
    history_path: Path | None = None
    target_metrics: bool = True
    interval: float = 1.0
    csv_prefix: Path | None = None
    """Locust's --csv prefix: the analysis report reads the run's files from there."""

    def urls_for(self, host: str | None) -> list[str]:
        """The endpoints to sample when the run's host is ``host``."""
        urls = []
        if self.target_metrics and host and not is_customerio_host(host):
            urls.append(metrics_url_for(host))
        return list(dict.fromkeys([*urls, *self.metrics_urls]))


def settings_from(options: Any) -> Settings:
    """Read the options Locust parsed (``environment.parsed_options``, possibly None)."""
    if options is None:
        return Settings()
    csv_prefix = Path(options.csv_prefix) if getattr(options, "csv_prefix", None) else None
    explicit = getattr(options, "system_history", None)
    # Beside the CSVs, which is where the analysis looks for it.
    history_path = Path(explicit) if explicit else (csv_prefix.parent / HISTORY_FILE if csv_prefix else None)
    return Settings(
        metrics_urls=tuple(getattr(options, "metrics_url", None) or ()),
        history_path=history_path,
        target_metrics=not getattr(options, "no_target_metrics", False),
        interval=getattr(options, "metrics_interval", 1.0) or 1.0,
        csv_prefix=csv_prefix,
    )
