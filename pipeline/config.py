"""Typed, validated settings of the ingest and sender processes (one frozen object per process).

Secrets (Track API keys) come from ``--workspace`` / ``PIPELINE_WORKSPACES`` only; nothing here is
logged. ``ConfigError`` carries a one-line message naming the option and how to fix it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from cio_contract import DEFAULT_LIMITS, Limits
from httpserver.limits import ServerLimits
from plumbing.budget import request_budget
from plumbing.errors import PipelineError

__all__ = [
    "ConfigError",
    "DEMO_WORKSPACE",
    "IngestConfig",
    "SenderConfig",
    "Workspace",
    "parse_workspaces",
]


class ConfigError(PipelineError, ValueError):
    """A setting is missing or malformed; the message says which and what to do (exit code 2)."""


@dataclass(frozen=True)
class Workspace:
    site_id: str
    track_api_key: str

    def __repr__(self) -> str:  # keep keys out of logs and tracebacks
        return f"Workspace(site_id={self.site_id!r}, track_api_key=***)"


DEMO_WORKSPACE = Workspace("demo-site", "demo-track-key")


def parse_workspaces(entries: list[str]) -> tuple[Workspace, ...]:
    """``SITE_ID:TRACK_KEY`` entries (repeatable option or comma-separated env); demo when none."""
    workspaces = []
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        site_id, sep, key = entry.partition(":")
        if not sep or not site_id or not key:
            raise ConfigError(f"--workspace {site_id or entry!r}...: expected SITE_ID:TRACK_API_KEY")
        workspaces.append(Workspace(site_id, key.split(":", 1)[0]))
    if len({w.site_id for w in workspaces}) != len(workspaces):
        raise ConfigError("--workspace: the same site id is given twice; give each workspace once")
    return tuple(workspaces) or (DEMO_WORKSPACE,)


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str
    topic: str
    dead_letter_topic: str


@dataclass(frozen=True)
class IngestConfig:
    """The ingest's settings; built by ``pipeline.cli`` from ``pipeline.options`` (defaults live there)."""

    kafka: KafkaSettings
    workspaces: tuple[Workspace, ...]
    bind: str
    port: int
    queue_messages: int
    """librdkafka's producer queue bound: past it, ingest answers 503 instead of buffering."""
    queue_kbytes: int
    delivery_timeout: float
    """Seconds to wait for the broker's acknowledgement before answering 503."""
    max_rss_mb: int
    """Resident-memory bound: above it new requests get 503 until memory falls."""
    tls_cert: str | None
    """PEM certificate: serve https, so the official SDKs (https only) can switch by host alone."""
    tls_key: str | None
    ready_file: str | None
    startup_timeout: float
    """Seconds the broker has to answer at start before ingest gives up (exit 2)."""
    retry_after: int = 1
    limits: Limits = DEFAULT_LIMITS
    server_limits: ServerLimits = ServerLimits()
    """What one client can make ingest hold (``httpserver.limits``)."""

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls_cert and not self.tls_key:
            return None
        if not (self.tls_cert and self.tls_key):
            raise ConfigError("--tls-cert and --tls-key go together; give both PEM files")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"--tls-cert/--tls-key: cannot load them ({exc}); "
                              "make a pair with `python -m sandbox gen-cert DIR`") from None  # fmt: skip
        return context


@dataclass(frozen=True)
class SenderConfig:
    """The sender's settings; built by ``pipeline.cli`` from ``pipeline.options`` (defaults live there)."""

    kafka: KafkaSettings
    target: str
    redis_url: str
    workspaces: tuple[Workspace, ...]
    group_id: str
    rate_limit: float
    """The workspace's Track requests per second, shared by every sender."""
    headroom: float
    """Share of ``rate_limit`` kept free (``plumbing.budget``)."""
    burst: int
    rate_window: float
    """Length of the limit's window, s: at most ``rate_limit x rate_window`` arrivals in any such
    window (0: spacing alone)."""
    max_batch_operations: int
    max_batch_bytes: int
    linger: float
    concurrency: int
    request_timeout: float
    backoff_max: float
    max_inflight_events: int
    max_inflight_bytes: int
    max_rss_mb: int
    session_timeout_ms: int
    shutdown_timeout: float
    metrics_bind: str
    metrics_port: int
    ready_file: str | None
    startup_timeout: float
    """Seconds the broker and Redis have to answer at start before the sender gives up (exit 2)."""
    test_skip_one_in: int
    """TEST ONLY: commit 1 in N events without delivering them, the loss delivery accounting must catch."""
    backoff_base: float = 0.2
    commit_interval: float = 1.0
    limits: Limits = DEFAULT_LIMITS

    @property
    def requests_per_second(self) -> float:
        return request_budget(self.rate_limit, self.headroom)

    @property
    def window_limit(self) -> int:
        """Requests that may arrive in one window: the whole limit (the headroom sets the pace; the
        rest of the limit is the margin that absorbs late answers)."""
        return max(1, int(self.rate_limit * self.rate_window))
