"""Command-line options of the monitoring package, and where its files go for a given run."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cio_contract import is_customerio_host
from locustfiles.monitoring.scrape import metrics_url_for
from plumbing.errors import OptionError
from plumbing.options import Options, declarer

__all__ = ["HISTORY_FILE", "OPTIONS", "Settings", "add_arguments", "settings_from"]

HISTORY_FILE = "system_history.csv"


def add_arguments(parser: Any) -> None:
    """Add the options to Locust's parser (``events.init_command_line_parser``)."""
    for option, action in zip(OPTIONS, OPTIONS.add_to(parser), strict=True):
        # Locust reads this attribute off each action for its web UI; the token never goes there.
        action.include_in_web_ui = option.web


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


def _from_environment() -> list[str]:
    # A repeatable option's variable holds comma-separated entries (plumbing.options); the parser
    # never sees them, so a bad one ends the process here, as the parser would: one line, exit 2.
    name = OPTIONS["metrics_url"].env or ""
    urls = []
    for entry in (e.strip() for e in os.environ.get(name, "").split(",") if e.strip()):
        try:
            urls.append(_metrics_url(entry))
        except argparse.ArgumentTypeError as exc:
            sys.stderr.write(f"locust: ${name}: {exc}\n")
            sys.exit(2)
    return urls


def _token(options: Any) -> str | None:
    # $SANDBOX_ADMIN_TOKEN_FILE / --metrics-token-file (a mounted secret) or the value itself; an
    # unreadable file ends the process as a bad option would: one line naming it, exit 2.
    try:
        return OPTIONS["metrics_token"].value_from(options) or None
    except OptionError as exc:
        sys.stderr.write(f"locust: {exc}\n")
        sys.exit(2)


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0.05 <= seconds <= 60:
        raise argparse.ArgumentTypeError(f"{value!r} must be a number of seconds between 0.05 and 60")
    return seconds


_o = declarer("LOCUST_", ("locust master",))

OPTIONS = Options(
    "Customer.io monitoring",
    (
        _o(
            "--metrics-url",
            [],
            "also sample this Prometheus /metrics URL each second (pipeline ingest, "
            "senders, a sandbox behind the pipeline); repeatable",
            type=_metrics_url,
            kind="list",
            metavar="URL",
            # Not in the web form: Locust's /swarm turns an empty list's field into int('') and
            # answers 500 (locust/web.py, "all(isinstance(x, int) for x in [])" is True).
            web=False,
        ),  # fmt: skip
        _o(
            "--system-history",
            None,
            f"write the per-second target metrics here (default: {HISTORY_FILE} beside the --csv files)",
            metavar="PATH",
        ),  # fmt: skip
        _o(
            "--no-target-metrics",
            False,
            "do not sample <host>/metrics (only the --metrics-url endpoints)",
            kind="flag",
        ),  # fmt: skip
        _o(
            "--metrics-interval",
            1.0,
            "seconds between samples; each scrape gives up after 80% of this, at most 0.8 s",
            type=_positive_seconds,
            low=0.05,
            high=60,
            metavar="SECONDS",
        ),  # fmt: skip
        _o(
            "--metrics-token",
            None,
            "sent as 'Authorization: Bearer TOKEN' with each scrape: the sandbox's admin token, which "
            "it asks of clients that are not on loopback",
            env="SANDBOX_ADMIN_TOKEN",
            metavar="TOKEN",
            secret=True,
            web=False,
        ),  # fmt: skip
        _o(
            "--status-file",
            None,
            "rewrite PATH each second with the master's live figures for watchers such as python -m runs "
            "(JSON: users, workers, req/s, failures per kind, target 429s/dropped, events such as a lost worker)",
            metavar="PATH",
        ),  # fmt: skip
    ),
    description="target-side metrics sampled each second",
)


@dataclass(frozen=True)
class Settings:
    """The parsed options, with defaults when Locust runs as a library without parsed options."""

    metrics_urls: tuple[str, ...] = ()
    history_path: Path | None = None
    target_metrics: bool = True
    interval: float = OPTIONS.default("metrics_interval")
    token: str | None = field(default=None, repr=False)
    """Bearer token for the scrapes (the sandbox's admin token); never shown."""
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
        metrics_urls=tuple(_from_environment() + list(getattr(options, "metrics_url", None) or ())),
        history_path=history_path,
        target_metrics=not getattr(options, "no_target_metrics", False),
        interval=getattr(options, "metrics_interval", None) or OPTIONS.default("metrics_interval"),
        token=_token(options),
        csv_prefix=csv_prefix,
    )
