"""The sandbox's configuration: workspaces, rate limits, store and fault settings, from CLI and YAML.

Everything is parsed into frozen dataclasses once at start; a bad value raises ConfigError with one
line saying what is wrong and how to fix it (the CLI prints it and exits 2).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cio_contract import Api, Limits, RateLimit
from cio_contract import parse_rate_limit as contract_parse_rate_limit
from httpserver import ServerLimits
from plumbing.errors import SandboxError
from sandbox.options import OPTIONS, RATE_MODES, STORE_MODES

__all__ = [
    "ConfigError",
    "DEMO_WORKSPACE",
    "RATE_MODES",
    "STORE_MODES",
    "RatePolicy",
    "SandboxConfig",
    "WorkspaceConfig",
    "load_yaml",
    "parse_rate_limit",
    "parse_workspace",
]


class ConfigError(SandboxError, ValueError):
    """A configuration value is wrong; the message names it and says how to fix it."""


@dataclass(frozen=True)
class RatePolicy:
    """How one API of one workspace is limited and what happens past the limit."""

    limit: RateLimit
    mode: str = OPTIONS.default("rate_mode")
    retry_after: float = OPTIONS.default("retry_after")
    """Seconds to put in ``Retry-After`` on 429 (0 = no header; Customer.io documents none)."""
    block_seconds: float = OPTIONS.default("block_seconds")
    """``block`` mode: how long everything is rejected once sustained excess is seen."""
    block_after: int = OPTIONS.default("block_after")
    """``block`` mode: over-limit requests within one window that trigger a block (0 = 10% of the limit)."""
    throttle_max_delay: float = OPTIONS.default("throttle_max_delay")
    """``throttle`` mode: a request that would wait longer than this is rejected with 429 instead."""

    @property
    def block_threshold(self) -> int:
        return self.block_after or max(1, self.limit.requests // 10)


@dataclass(frozen=True)
class WorkspaceConfig:
    site_id: str = field(repr=False)
    track_api_key: str = field(repr=False)
    app_api_key: str = field(repr=False)
    cdp_write_key: str = field(repr=False)
    rate: dict[str, RatePolicy] = field(default_factory=dict)
    """Rate policy per API name (``track``, ``app``, ``cdp``)."""
    name: str | None = None
    """The configured ``name``; see :attr:`label`."""

    @property
    def label(self) -> str:
        """How stats, stored records and metric labels name this workspace: never the site id (a
        secret). The configured ``name``, ``demo`` for the demo workspace, else ``ws-`` and the first
        8 hex digits of the site id's SHA-256 (stable, so runs compare; not reversible in practice)."""
        if self.name:
            return self.name
        if self.site_id == DEMO_WORKSPACE[0]:
            return DEMO_LABEL
        return "ws-" + hashlib.sha256(self.site_id.encode()).hexdigest()[:8]

    def policy(self, api: Api | str) -> RatePolicy:
        return self.rate[str(api)]


DEMO_WORKSPACE = ("demo-site", "demo-track-key", "demo-app-key", "demo-cdp-key")
DEMO_LABEL = "demo"


@dataclass(frozen=True)
class SandboxConfig:
    """Everything one sandbox serves with; built by ``sandbox.cli`` from ``sandbox.options``."""

    bind: str
    port: int
    processes: int
    workspaces: tuple[WorkspaceConfig, ...]
    limits: Limits
    store_mode: str
    max_events: int
    max_people: int
    dedup_window: int
    """How many event ids are remembered for duplicate detection (oldest forgotten first)."""
    max_body_bytes: int
    """Bodies above this are refused (413) on every endpoint, before the body is read."""
    track_v1_body_bytes: int
    """Track v1 has no documented request cap (UNCONFIRMED); the sandbox refuses bodies above this."""
    faults: dict[str, Any]
    tls_cert: str | None
    tls_key: str | None
    server: ServerLimits
    """What one client can make a sandbox process hold (headers, deadlines, connections)."""
    arrivals_dir: str | None
    """Delivery accounting: each process appends the tracked ids it received here (``sandbox.arrivals``)."""
    admin_token: str | None = field(default=None, repr=False)
    """Non-loopback clients reach ``/__sandbox`` and ``/metrics`` only with ``Bearer <token>``;
    without a token only loopback clients do (the health check excepted)."""


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


def check_workspace_name(name: object, site_id: str, where: str) -> str:
    """A workspace ``name`` from the config: shown in stats and metrics instead of the site id."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}.name: {name!r} must be 1-40 letters, digits, '-', '_' or '.'")
    if name == site_id:
        raise ConfigError(
            f"{where}.name: must not be the site id (a secret shown nowhere); pick another name"
        )
    return name


def parse_rate_limit(text: str) -> tuple[str, RateLimit]:
    """``--rate-limit API=REQUESTS[/SECONDS][+BURST]`` (``cio_contract.parse_rate_limit``'s grammar)."""
    try:
        return contract_parse_rate_limit(text)
    except ValueError as exc:
        raise ConfigError(f"--rate-limit {exc}") from None


def parse_workspace(text: str) -> tuple[str, str, str, str]:
    """``SITE_ID:TRACK_KEY[:APP_KEY[:CDP_KEY]]``; missing keys default to the Track key."""
    parts = text.split(":")
    if len(parts) < 2 or len(parts) > 4 or not all(parts):
        raise ConfigError(
            f"--workspace {text.split(':')[0]!r}...: expected SITE_ID:TRACK_API_KEY[:APP_API_KEY[:CDP_WRITE_KEY]]"
        )
    site, track = parts[0], parts[1]
    app = parts[2] if len(parts) > 2 else track
    cdp = parts[3] if len(parts) > 3 else track
    return site, track, app, cdp


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict; ConfigError names the file when it cannot."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"--config {path}: not a text file (not UTF-8); give a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc.strerror}); check the path") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: the top level must be a mapping of options")
    return data


def policy_from_mapping(where: str, data: Any, base: RatePolicy) -> RatePolicy:
    """A rate policy from YAML: ``{requests, per_seconds, burst, mode, retry_after, block_seconds, ...}``.

    ``burst`` absent or null keeps the sliding window; a number selects the tight, spaced form.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping like {{requests: 100, per_seconds: 1}}")
    known = {"requests", "per_seconds", "burst", "mode", "retry_after", "block_seconds", "block_after",
             "throttle_max_delay"}  # fmt: skip
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    try:
        burst = data.get("burst")
        limit = RateLimit(
            int(data.get("requests", base.limit.requests)),
            float(data.get("per_seconds", base.limit.per_seconds)),
            None if burst is None else int(burst),
        )
        policy = replace(
            base,
            limit=limit,
            mode=str(data.get("mode", base.mode)),
            retry_after=float(data.get("retry_after", base.retry_after)),
            block_seconds=float(data.get("block_seconds", base.block_seconds)),
            block_after=int(data.get("block_after", base.block_after)),
            throttle_max_delay=float(data.get("throttle_max_delay", base.throttle_max_delay)),
        )
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: requests, per_seconds, burst and the delays must be numbers") from None
    if policy.mode not in RATE_MODES:
        raise ConfigError(f"{where}: mode {policy.mode!r} is not one of {', '.join(RATE_MODES)}")
    if limit.requests < 1 or limit.per_seconds <= 0 or limit.effective_burst < 0:
        raise ConfigError(f"{where}: requests must be >= 1, per_seconds > 0, burst >= 0")
    return policy
