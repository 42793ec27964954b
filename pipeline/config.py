"""Typed, validated settings of the ingest and sender processes (one frozen object per process).

Secrets (Track API keys) come from ``--workspace`` / ``PIPELINE_WORKSPACES`` only; nothing here is
logged. ``ConfigError`` carries a one-line message naming the option and how to fix it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from cio_contract import CLIENT_BATCH_BYTES, DEFAULT_LIMITS, DEFAULT_RATE_LIMITS, Limits
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
    topic: str = "cio-events"
    dead_letter_topic: str = "cio-events-dlq"


@dataclass(frozen=True)
class IngestConfig:
    kafka: KafkaSettings
    workspaces: tuple[Workspace, ...] = (DEMO_WORKSPACE,)
    host: str = "127.0.0.1"
    port: int = 8090
    queue_messages: int = 20_000
    """librdkafka's producer queue bound: past it, ingest answers 503 instead of buffering."""
    queue_kbytes: int = 16_384
    delivery_timeout: float = 5.0
    """Seconds to wait for the broker's acknowledgement before answering 503."""
    max_rss_mb: int = 300
    """Resident-memory bound: above it new requests get 503 until memory falls."""
    retry_after: int = 1
    tls_cert: str | None = None
    """PEM certificate: serve https, so the official SDKs (https only) can switch by host alone."""
    tls_key: str | None = None
    limits: Limits = DEFAULT_LIMITS
    ready_file: str | None = None

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
    kafka: KafkaSettings
    target: str
    redis_url: str
    workspaces: tuple[Workspace, ...] = (DEMO_WORKSPACE,)
    group_id: str = "cio-senders"
    rate_limit: float = DEFAULT_RATE_LIMITS["track"].per_second
    """Track requests per second allowed for each workspace, shared by every sender."""
    headroom: float = 0.9
    burst: int = 0
    max_batch_operations: int = 1000
    max_batch_bytes: int = CLIENT_BATCH_BYTES
    linger: float = 0.2
    concurrency: int = 8
    request_timeout: float = 10.0
    backoff_base: float = 0.2
    backoff_max: float = 10.0
    max_inflight_events: int = 20_000
    max_inflight_bytes: int = 32 * 1024 * 1024
    max_rss_mb: int = 300
    session_timeout_ms: int = 10_000
    commit_interval: float = 1.0
    shutdown_timeout: float = 20.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    limits: Limits = DEFAULT_LIMITS
    ready_file: str | None = None

    @property
    def requests_per_second(self) -> float:
        return self.rate_limit * self.headroom

    def validate(self) -> SenderConfig:
        if not 0 < self.headroom <= 1:
            raise ConfigError(f"--headroom {self.headroom}: give a fraction in (0, 1], e.g. 0.9")
        if self.rate_limit <= 0:
            raise ConfigError(f"--rate-limit {self.rate_limit}: give requests per second > 0")
        if not 0 < self.max_batch_bytes < self.limits.v2_batch_bytes:
            raise ConfigError(
                f"--max-batch-bytes {self.max_batch_bytes}: must be below the "
                f"{self.limits.v2_batch_bytes}-byte batch limit (default {CLIENT_BATCH_BYTES})"
            )
        if self.max_batch_operations < 1 or self.concurrency < 1:
            raise ConfigError("--max-batch-operations and --concurrency must be at least 1")
        if not self.target.startswith(("http://", "https://")):
            raise ConfigError(f"--target {self.target!r}: give a base URL such as http://127.0.0.1:8080")
        return self
