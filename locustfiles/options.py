"""The traffic model's command-line options, and their parsing into one validated :class:`Settings`.

Options are registered on Locust's own parser (so they show in ``--help``, ``locust.conf`` and the
web UI); credentials come from environment variables and are kept out of the web UI entirely.
Every problem becomes an :class:`OptionError` whose message is one line saying what to fix.
"""

from __future__ import annotations

from locust.util.timespan import parse_timespan

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cio_contract import CLIENT_BATCH_OPERATIONS, DEFAULT_RATE_LIMITS, is_customerio_host
from cio_contract.regions import APP_HOSTS, CDP_HOSTS
from plumbing.errors import LocustfilesError

__all__ = [
    "DEMO_CREDENTIALS",
    "MIX_ACTIONS",
    "SHAPES",
    "Credentials",
    "OptionError",
    "Settings",
    "Stage",
    "add_arguments",
    "parse_mix",
    "parse_stages",
    "settings_from",
]

SHAPES = ("none", "stages", "step", "spike", "soak", "arrival", "probe")
MIX_ACTIONS = ("identify", "track", "page", "screen", "anonymous", "batch", "transactional", "pipelines",
               "segment", "form", "metric", "message")  # fmt: skip
DEFAULT_MIX = "identify=3,track=6,batch=1"
DEFAULT_STAGES = "10s:10,40s:20,10s:0"


class OptionError(LocustfilesError, ValueError):
    """A bad option value; ``str()`` is one line naming the option and how to fix it."""


@dataclass(frozen=True)
class Credentials:
    """Workspace secrets. ``repr`` hides them so a logged Settings never leaks a key."""

    site_id: str = field(repr=False)
    track_api_key: str = field(repr=False)
    app_api_key: str = field(repr=False)
    cdp_api_key: str = field(repr=False)

    def values(self) -> tuple[str, ...]:
        return (self.site_id, self.track_api_key, self.app_api_key, self.cdp_api_key)


DEMO_CREDENTIALS = Credentials("demo-site", "demo-track-key", "demo-app-key", "demo-cdp-key")


@dataclass(frozen=True)
class Stage:
    """k6-style stage: move linearly from the previous target to ``target`` users over ``duration`` s."""

    duration: float
    target: int


@dataclass(frozen=True)
class Settings:
    """Everything the users, payloads and shapes need, parsed and checked once."""

    host: str
    app_host: str
    cdp_host: str
    credentials: Credentials = field(repr=False)
    region: str = "us"
    mix: dict[str, int] = field(default_factory=lambda: parse_mix(DEFAULT_MIX))
    batch_size: int = 50
    seed: int = 0
    people: int = 5000
    new_share: float = 0.1
    hot_share: float = 0.5
    hot_fraction: float = 0.01
    user_rate: float = 2.0
    retries: int = 0
    retry_cap: float = 5.0
    shape: str = "none"
    stages: tuple[Stage, ...] = ()
    users: int = 20
    base_users: int = 5
    spawn_rate: float = 10.0
    duration: float = 60.0
    ramp: float = 10.0
    steps: int = 5
    spike_at: float = 20.0
    spike_length: float = 10.0
    target_rate: float = 50.0
    probe_step_rate: float = 20.0
    probe_step_time: float = 10.0
    probe_latency_ms: float = 1000.0
    probe_max_429_share: float = 0.05
    real_host: bool = False
    rate_cap: float | None = None
    """Highest total request rate allowed (set for real Customer.io hosts), req/s."""
    run_time: float | None = None
    num_users: int | None = None
    locust_spawn_rate: float | None = None
    """Locust's own ``-r``, used by ``--shape none``."""

    @property
    def max_users(self) -> int | None:
        """Users allowed under ``rate_cap`` when each sends ``user_rate`` requests a second."""
        return None if self.rate_cap is None else max(1, math.floor(self.rate_cap / self.user_rate))

    def capped_rate(self, rate: float) -> float:
        return rate if self.rate_cap is None else min(rate, self.rate_cap)


def add_arguments(parser: Any) -> None:
    """Register every option on Locust's parser (``events.init_command_line_parser``)."""
    group = parser.add_argument_group("Customer.io traffic model")
    _add_workspace(group)
    _add_traffic(group)
    _add_shapes(group)


def _add(group: Any, *flags: str, web: bool = True, **kwargs: Any) -> None:
    # Argument groups take plain argparse kwargs; Locust reads these attributes off the action.
    action = group.add_argument(*flags, **kwargs)
    action.include_in_web_ui = web
    action.is_secret = action.is_required = action.is_multiple = False


def _add_workspace(g: Any) -> None:
    # Secrets: from the environment, never shown in the web UI (not even masked: the page source
    # would carry the default value).
    _add(g, "--site-id", env_var="CIO_SITE_ID", default=DEMO_CREDENTIALS.site_id,
                   help="workspace site id (env CIO_SITE_ID; default: the sandbox demo workspace)", web=False)  # fmt: skip
    _add(g, "--api-key", env_var="CIO_API_KEY", default=DEMO_CREDENTIALS.track_api_key,
                   help="Track API key (env CIO_API_KEY)", web=False)  # fmt: skip
    _add(g, "--app-api-key", env_var="CIO_APP_API_KEY", default=DEMO_CREDENTIALS.app_api_key,
                   help="App API key for transactional sends (env CIO_APP_API_KEY)", web=False)  # fmt: skip
    _add(g, "--cdp-api-key", env_var="CIO_CDP_API_KEY", default=DEMO_CREDENTIALS.cdp_api_key,
                   help="Pipelines write key (env CIO_CDP_API_KEY)", web=False)  # fmt: skip
    _add(g, "--region", env_var="CIO_REGION", default="us", choices=["us", "eu"],
                   help="region of a real workspace: picks the App and Pipelines hosts")  # fmt: skip
    _add(g, "--app-host", env_var="CIO_APP_HOST", default="",
                   help="App API base URL (default: --host, or the region's host for a real workspace)")  # fmt: skip
    _add(g, "--cdp-host", env_var="CIO_CDP_HOST", default="",
                   help="Pipelines base URL (default: --host, or the region's host for a real workspace)")  # fmt: skip
    _add(g, "--allow-real-customerio", action="store_true", default=False,
                   help="allow a real Customer.io host; the request rate is then capped below --workspace-limit")  # fmt: skip
    _add(g, "--workspace-limit", type=float, default=DEFAULT_RATE_LIMITS["track"].per_second,
                   help="the workspace's Track rate limit in req/s (real hosts only)")  # fmt: skip
    _add(g, "--headroom", type=float, default=0.2,
                   help="share of --workspace-limit kept free on a real host (0.2 = at most 80%%)")  # fmt: skip


def _add_traffic(g: Any) -> None:
    _add(g, "--mix", default=DEFAULT_MIX,
                   help=f"IntegrationUser ratios, e.g. identify=3,track=6,batch=1 (actions: {', '.join(MIX_ACTIONS)})")  # fmt: skip
    _add(g, "--batch-size", type=int, default=50,
                   help=f"operations per v2 / Pipelines batch (1..{CLIENT_BATCH_OPERATIONS})")  # fmt: skip
    _add(g, "--seed", type=int, default=0, help="seed for payloads and choices (same seed, same payloads)")
    _add(g, "--people", type=int, default=5000, help="returning people pre-generated per process")
    _add(g, "--new-share", type=float, default=0.1, help="share of calls for a person never seen before")
    _add(g, "--hot-share", type=float, default=0.5, help="share of returning calls that go to hot customers")
    _add(g, "--hot-fraction", type=float, default=0.01, help="share of people that are hot customers")
    _add(g, "--user-rate", type=float, default=2.0, help="requests per second each user paces itself to")
    _add(g, "--retries", type=int, default=0,
                   help="retry 408/429/5xx like customerio-node (200 ms base, x2, jitter, honours Retry-After); 0 = off")  # fmt: skip
    _add(g, "--retry-cap", type=float, default=5.0, help="longest single backoff sleep in seconds")


def _add_shapes(g: Any) -> None:
    _add(g, "--shape", default="none", choices=list(SHAPES),
                   help="load shape: none (use -u/-r/-t), stages, step, spike, soak, arrival, probe")  # fmt: skip
    _add(g, "--stages", default=DEFAULT_STAGES,
                   help="stages shape: DURATION:USERS,... (k6-style) or a .yaml/.json file")  # fmt: skip
    _add(g, "--shape-users", type=int, default=20, help="peak users (step, spike, soak)")
    _add(g, "--shape-base-users", type=int, default=5, help="users outside the spike")
    _add(g, "--shape-spawn-rate", type=float, default=10.0, help="users started per second by shapes")
    _add(g, "--shape-duration", default="60s", help="how long step, spike, soak, arrival and probe run")
    _add(g, "--shape-ramp", default="10s", help="ramp-up time (soak, arrival)")
    _add(g, "--shape-steps", type=int, default=5, help="number of steps (step)")
    _add(g, "--spike-at", default="20s", help="when the spike starts")
    _add(g, "--spike-length", default="10s", help="how long the spike lasts")
    _add(g, "--target-rate", type=float, default=50.0, help="arrival shape: requests/s to hold; probe: start rate")  # fmt: skip
    _add(g, "--probe-step-rate", type=float, default=20.0, help="probe: req/s added per step")
    _add(g, "--probe-step-time", default="10s", help="probe: how long each step holds")
    _add(g, "--probe-latency-ms", type=float, default=1000.0, help="probe: p95 above this ends the probe")
    _add(g, "--probe-max-429-share", type=float, default=0.05, help="probe: 429 share above this ends the probe")  # fmt: skip


def settings_from(options: Any, host: str | None = None) -> Settings:
    """Parse Locust's ``parsed_options`` into Settings; raises OptionError on the first problem."""
    o = options
    host = (host if host is not None else getattr(o, "host", None)) or ""
    credentials = Credentials(o.site_id, o.api_key, o.app_api_key, o.cdp_api_key)
    app_host, cdp_host = _api_hosts(host, o.app_host, o.cdp_host, o.region)
    real = any(is_customerio_host(h) for h in (host, app_host, cdp_host) if h)
    settings = Settings(
        host=host, app_host=app_host, cdp_host=cdp_host, credentials=credentials, region=o.region,
        mix=parse_mix(o.mix), batch_size=o.batch_size, seed=o.seed, people=o.people,
        new_share=o.new_share, hot_share=o.hot_share, hot_fraction=o.hot_fraction,
        user_rate=o.user_rate, retries=o.retries, retry_cap=o.retry_cap, shape=o.shape,
        stages=parse_stages(o.stages),
        users=o.shape_users, base_users=o.shape_base_users, spawn_rate=o.shape_spawn_rate,
        duration=_span("--shape-duration", o.shape_duration), ramp=_span("--shape-ramp", o.shape_ramp),
        steps=o.shape_steps, spike_at=_span("--spike-at", o.spike_at),
        spike_length=_span("--spike-length", o.spike_length), target_rate=o.target_rate,
        probe_step_rate=o.probe_step_rate, probe_step_time=_span("--probe-step-time", o.probe_step_time),
        probe_latency_ms=o.probe_latency_ms, probe_max_429_share=o.probe_max_429_share,
        real_host=real, rate_cap=_rate_cap(o) if real else None,
        run_time=getattr(o, "run_time", None), num_users=getattr(o, "num_users", None),
        locust_spawn_rate=getattr(o, "spawn_rate", None),
    )  # fmt: skip
    _check(settings, o)
    return settings


def _api_hosts(host: str, app_host: str, cdp_host: str, region: str) -> tuple[str, str]:
    # A real Track host implies the region's App and Pipelines hosts; anything else (the sandbox,
    # the pipeline's ingest) serves every API on the one --host.
    real_track = bool(host) and is_customerio_host(host)
    app = app_host or (APP_HOSTS[region] if real_track else host)
    cdp = cdp_host or (CDP_HOSTS[region] if real_track else host)
    return app.rstrip("/"), cdp.rstrip("/")


def _rate_cap(o: Any) -> float:
    return o.workspace_limit * (1.0 - o.headroom)


def _span(name: str, text: Any) -> float:
    try:
        return float(parse_timespan(str(text).strip()))
    except ValueError:
        raise OptionError(f"{name} {text!r} is not a duration; write e.g. 90, 30s, 5m or 1h30m") from None


def _check(s: Settings, o: Any) -> None:
    positive = {
        "--user-rate": s.user_rate, "--target-rate": s.target_rate, "--probe-step-rate": s.probe_step_rate,
        "--probe-step-time": s.probe_step_time, "--shape-spawn-rate": s.spawn_rate,
        "--shape-duration": s.duration, "--probe-latency-ms": s.probe_latency_ms,
        "--workspace-limit": o.workspace_limit,
    }  # fmt: skip
    for name, value in positive.items():
        if not value > 0:
            raise OptionError(f"{name} must be greater than 0 (got {value:g})")
    non_negative = {
        "--people": s.people, "--retries": s.retries, "--shape-users": s.users, "--retry-cap": s.retry_cap,
        "--shape-base-users": s.base_users, "--shape-ramp": s.ramp, "--spike-at": s.spike_at,
    }  # fmt: skip
    for name, value in non_negative.items():
        if value < 0:
            raise OptionError(f"{name} must not be negative (got {value:g})")
    _check_shares(s, o)
    if not 1 <= s.batch_size <= CLIENT_BATCH_OPERATIONS:
        raise OptionError(
            f"--batch-size must be between 1 and {CLIENT_BATCH_OPERATIONS} (got {s.batch_size})"
        )
    if s.steps < 1:
        raise OptionError(f"--shape-steps must be at least 1 (got {s.steps})")
    if s.people < 1:
        raise OptionError("--people must be at least 1")
    _check_host(s, o)


def _check_shares(s: Settings, o: Any) -> None:
    shares = {
        "--new-share": s.new_share, "--hot-share": s.hot_share, "--hot-fraction": s.hot_fraction,
        "--headroom": o.headroom, "--probe-max-429-share": s.probe_max_429_share,
    }  # fmt: skip
    for name, value in shares.items():
        if not 0 <= value <= 1:
            raise OptionError(f"{name} must be between 0 and 1 (got {value:g})")
    if o.headroom >= 1:
        raise OptionError("--headroom must be below 1, or nothing could be sent")


def _check_host(s: Settings, o: Any) -> None:
    if not s.real_host:
        return
    if not o.allow_real_customerio:
        raise OptionError(
            f"{s.host or s.app_host} is a real Customer.io host; refusing to load it. Point --host at the "
            "sandbox, or pass --allow-real-customerio for a test workspace"
        )
    # Site id and Track key are the minimum; App/Pipelines users without their keys get 401s.
    demo = DEMO_CREDENTIALS.values()[:2]
    names = ("CIO_SITE_ID", "CIO_API_KEY")
    given = s.credentials.values()[:2]
    missing = [n for n, v, d in zip(names, given, demo, strict=True) if not v or v == d]
    if missing:
        raise OptionError(
            f"a real Customer.io host needs your workspace's credentials; set {', '.join(missing)}"
        )


def parse_mix(text: str) -> dict[str, int]:
    """``"identify=3,track=6"`` -> ``{"identify": 3, "track": 6}``; unknown actions are an error."""
    mix: dict[str, int] = {}
    for part in str(text).split(","):
        if not part.strip():
            continue
        name, sep, weight = part.partition("=")
        name = name.strip()
        if name not in MIX_ACTIONS:
            raise OptionError(f"--mix: unknown action {name!r}; use {', '.join(MIX_ACTIONS)} as NAME=WEIGHT")
        try:
            value = int(weight) if sep else 1
        except ValueError:
            raise OptionError(f"--mix: weight of {name!r} must be a whole number (got {weight!r})") from None
        if value < 0:
            raise OptionError(f"--mix: weight of {name!r} must not be negative (got {value})")
        mix[name] = value
    if not any(mix.values()):
        raise OptionError("--mix needs at least one positive weight, e.g. identify=3,track=6,batch=1")
    return mix


def parse_stages(text: str) -> tuple[Stage, ...]:
    """k6-style stages from ``"30s:10,1m:50,30s:0"`` or a YAML/JSON file of ``{duration, target}``."""
    text = str(text).strip()
    if text.lower().endswith((".yaml", ".yml", ".json")):
        return _stages_from_file(Path(text))
    stages = []
    for part in text.split(","):
        duration, sep, target = part.strip().partition(":")
        if not sep:
            raise OptionError(
                f"--stages: {part.strip()!r} is not DURATION:USERS; write e.g. 30s:10,1m:50,30s:0"
            )
        stages.append(_stage("--stages", duration, target))
    return _checked_stages("--stages", stages)


def _stages_from_file(path: Path) -> tuple[Stage, ...]:
    where = f"--stages {path}"
    try:
        text = path.read_text()
    except OSError as exc:
        raise OptionError(
            f"{where}: cannot read it ({exc.strerror}); give an existing YAML or JSON file"
        ) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise OptionError(f"{where}: not valid {path.suffix[1:].upper()} ({first})") from None
    if isinstance(data, dict):
        data = data.get("stages")
    if not isinstance(data, list) or not all(isinstance(s, dict) for s in data):
        raise OptionError(f"{where}: expected a list of {{duration, target}} (or 'stages:' holding one)")
    stages = [_stage(where, s.get("duration"), s.get("target")) for s in data]
    return _checked_stages(where, stages)


def _stage(where: str, duration: Any, target: Any) -> Stage:
    seconds = _span(f"{where} duration", duration)
    try:
        users = int(str(target).strip())
    except ValueError:
        raise OptionError(f"{where}: target {target!r} is not a whole number of users") from None
    if users < 0:
        raise OptionError(f"{where}: target must not be negative (got {users})")
    return Stage(seconds, users)


def _checked_stages(where: str, stages: list[Stage]) -> tuple[Stage, ...]:
    if not stages or sum(s.duration for s in stages) <= 0:
        raise OptionError(f"{where}: needs at least one stage with a duration, e.g. 30s:10")
    return tuple(stages)
