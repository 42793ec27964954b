"""The traffic model's command-line options, and their parsing into one validated :class:`Settings`.

Options are declared once in :data:`OPTIONS` (``plumbing.options``) and registered on Locust's own
parser (so they show in ``--help``, ``locust.conf``, the environment and the web UI); credentials come
from environment variables and are kept out of the web UI entirely.
Every problem becomes an :class:`OptionError` whose message is one line saying what to fix.
"""

from __future__ import annotations

from locust.util.timespan import parse_timespan

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from cio_contract import (
    CLIENT_BATCH_OPERATIONS,
    DEFAULT_RATE_LIMITS,
    is_customerio_host,
    parse_track_rate_limit,
)
from cio_contract.delivery import DELIVERY_ID_ATTRIBUTE
from cio_contract.regions import APP_HOSTS, CDP_HOSTS
from plumbing.budget import HEADROOM, rate_limit_option, request_budget
from plumbing.errors import LocustfilesError
from plumbing.errors import OptionError as PlumbingOptionError
from plumbing.options import Option, Options, declarer

__all__ = [
    "DEMO_CREDENTIALS",
    "MIX_ACTIONS",
    "OPTIONS",
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
    """Everything the users, payloads and shapes need, parsed and checked once (defaults: :data:`OPTIONS`)."""

    host: str
    app_host: str
    cdp_host: str
    credentials: Credentials = field(repr=False)
    region: str
    mix: dict[str, int]
    batch_size: int
    seed: int
    people: int
    new_share: float
    hot_share: float
    hot_fraction: float
    user_rate: float
    retries: int
    retry_cap: float
    delivery_ids: bool
    """Add a delivery id attribute to calls that have no id field (``--no-delivery-ids`` turns it off)."""
    shape: str
    stages: tuple[Stage, ...]
    users: int
    base_users: int
    spawn_rate: float
    duration: float
    ramp: float
    steps: int
    spike_at: float
    spike_length: float
    target_rate: float
    probe_step_rate: float
    probe_step_time: float
    probe_latency_ms: float
    probe_max_429_share: float
    real_host: bool
    rate_cap: float | None
    """Highest total request rate allowed (set for real Customer.io hosts), req/s."""
    run_time: float | None
    num_users: int | None
    locust_spawn_rate: float | None
    """Locust's own ``-r``, used by ``--shape none``."""

    @property
    def max_users(self) -> int | None:
        """Users allowed under ``rate_cap`` when each sends ``user_rate`` requests a second."""
        return None if self.rate_cap is None else max(1, math.floor(self.rate_cap / self.user_rate))

    def capped_rate(self, rate: float) -> float:
        return rate if self.rate_cap is None else min(rate, self.rate_cap)


def _span_check(low: float, open_low: bool) -> Callable[[Any], str | None]:
    def check(text: Any) -> str | None:
        try:
            seconds = float(parse_timespan(str(text).strip()))
        except ValueError:
            return f"{text!r} is not a duration; write e.g. 90, 30s, 5m or 1h30m"
        if seconds < low or (open_low and seconds == low):
            return f"must be greater than {low:g} (got {seconds:g})" if open_low else "must not be negative"
        return None

    return check


_POSITIVE_SPAN = _span_check(0, True)
_SPAN = _span_check(0, False)
_L = ("locust",)


_o = declarer("LOCUST_", _L)


def _share(flag: str, default: float, help: str) -> Option:
    return _o(flag, default, help, type=float, low=0, high=1)


# Secrets come from the environment and never reach the web UI (not even masked: the page source
# would carry the default value).
OPTIONS = Options(
    "Customer.io traffic model",
    (
        _o(
            "--site-id",
            DEMO_CREDENTIALS.site_id,
            "workspace site id; default: the sandbox demo workspace",
            env="CIO_SITE_ID",
            secret=True,
            web=False,
        ),  # fmt: skip
        _o(
            "--api-key",
            DEMO_CREDENTIALS.track_api_key,
            "Track API key",
            env="CIO_API_KEY",
            secret=True,
            web=False,
        ),  # fmt: skip
        _o(
            "--app-api-key",
            DEMO_CREDENTIALS.app_api_key,
            "App API key for transactional sends",
            env="CIO_APP_API_KEY",
            secret=True,
            web=False,
        ),  # fmt: skip
        _o(
            "--cdp-api-key",
            DEMO_CREDENTIALS.cdp_api_key,
            "Pipelines write key",
            env="CIO_CDP_API_KEY",
            secret=True,
            web=False,
        ),  # fmt: skip
        _o(
            "--region",
            "us",
            "region of a real workspace: picks the App and Pipelines hosts",
            env="CIO_REGION",
            choices=("us", "eu"),
        ),  # fmt: skip
        _o(
            "--app-host",
            "",
            "App API base URL (default: --host, or the region's host for a real workspace)",
            env="CIO_APP_HOST",
            schemes=("http", "https"),
            metavar="URL",
        ),  # fmt: skip
        _o(
            "--cdp-host",
            "",
            "Pipelines base URL (default: --host, or the region's host for a real workspace)",
            env="CIO_CDP_HOST",
            schemes=("http", "https"),
            metavar="URL",
        ),  # fmt: skip
        _o(
            "--allow-real-customerio",
            False,
            "allow a real Customer.io host; the request rate is then capped "
            "at --rate-limit x (1 - --headroom)",
            kind="flag",
        ),  # fmt: skip
        # Named and written as the senders', the capacity plan's and the sandbox's (real hosts only).
        replace(
            rate_limit_option(parse_track_rate_limit, DEFAULT_RATE_LIMITS["track"], "LOCUST_RATE_LIMIT", _L),
            was="--workspace-limit",
            was_env="LOCUST_WORKSPACE_LIMIT",
        ),
        replace(HEADROOM, env="LOCUST_HEADROOM"),
        _o("--mix", DEFAULT_MIX, f"IntegrationUser ratios (actions: {', '.join(MIX_ACTIONS)})"),
        _o(
            "--batch-size",
            50,
            "operations per v2 / Pipelines batch",
            type=int,
            low=1,
            high=CLIENT_BATCH_OPERATIONS,
        ),  # fmt: skip
        _o("--seed", 0, "seed for payloads and choices (same seed, same payloads)", type=int),
        _o("--people", 5000, "returning people pre-generated per process", type=int, low=1),
        _share("--new-share", 0.1, "share of calls for a person never seen before"),
        _share("--hot-share", 0.5, "share of returning calls that go to hot customers"),
        _share("--hot-fraction", 0.01, "share of people that are hot customers"),
        _o(
            "--user-rate",
            2.0,
            "requests per second each user paces itself to",
            type=float,
            low=0,
            low_open=True,
        ),  # fmt: skip
        _o(
            "--retries",
            0,
            "retry 408/429/5xx like customerio-node (200 ms base, x2, jitter, honours Retry-After); 0 = off",
            type=int,
            low=0,
        ),  # fmt: skip
        _o("--retry-cap", 5.0, "longest single backoff sleep in seconds", type=float, low=0),
        _o(
            "--acks-file",
            "",
            "delivery accounting: where the master writes the ids the target acknowledged "
            "(empty: <--csv prefix>_acks.txt; 'off' records none)",
            env="CIO_ACKS_FILE",
        ),  # fmt: skip
        _o(
            "--no-delivery-ids",
            False,
            f"do not add the {DELIVERY_ID_ATTRIBUTE!r} attribute to calls without an id field (identify, "
            "transactional), for targets that reject or rewrite payloads; those calls are not reconciled",
            kind="flag",
        ),  # fmt: skip
        _o(
            "--shape",
            "none",
            "load shape: none (use -u/-r/-t), stages, step, spike, soak, arrival, probe",
            choices=SHAPES,
        ),  # fmt: skip
        _o("--stages", DEFAULT_STAGES, "stages shape: DURATION:USERS,... (k6-style) or a .yaml/.json file"),
        _o("--shape-users", 20, "peak users (step, spike, soak)", type=int, low=0),
        _o("--shape-base-users", 5, "users outside the spike", type=int, low=0),
        _o(
            "--shape-spawn-rate", 10.0, "users started per second by shapes", type=float, low=0, low_open=True
        ),
        _o(
            "--shape-duration",
            "60s",
            "how long step, spike, soak, arrival and probe run",
            check=_POSITIVE_SPAN,
        ),  # fmt: skip
        _o("--shape-ramp", "10s", "ramp-up time (soak, arrival)", check=_SPAN),
        _o("--shape-steps", 5, "number of steps (step)", type=int, low=1),
        _o("--spike-at", "20s", "when the spike starts", check=_SPAN),
        _o("--spike-length", "10s", "how long the spike lasts", check=_SPAN),
        _o(
            "--target-rate",
            50.0,
            "arrival shape: requests/s to hold; probe: start rate",
            type=float,
            low=0,
            low_open=True,
        ),  # fmt: skip
        _o("--probe-step-rate", 20.0, "probe: req/s added per step", type=float, low=0, low_open=True),
        _o("--probe-step-time", "10s", "probe: how long each step holds", check=_POSITIVE_SPAN),
        _o(
            "--probe-latency-ms",
            1000.0,
            "probe: p95 above this ends the probe",
            type=float,
            low=0,
            low_open=True,
        ),  # fmt: skip
        _share("--probe-max-429-share", 0.05, "probe: 429 share above this ends the probe"),
    ),
)


def add_arguments(parser: Any) -> None:
    """Register every option on Locust's parser (``events.init_command_line_parser``)."""
    for option, action in zip(OPTIONS, OPTIONS.add_to(parser), strict=True):
        # Locust reads these attributes off each action for its web UI.
        action.include_in_web_ui = option.web
        action.is_secret = action.is_required = action.is_multiple = False


def settings_from(options: Any, host: str | None = None) -> Settings:
    """Parse Locust's ``parsed_options`` into Settings; raises OptionError on the first problem."""
    host = (host if host is not None else getattr(options, "host", None)) or ""
    try:
        o = SimpleNamespace(**OPTIONS.values(options))
    except PlumbingOptionError as exc:
        raise OptionError(str(exc)) from None
    credentials = Credentials(o.site_id, o.api_key, o.app_api_key, o.cdp_api_key)
    app_host, cdp_host = _api_hosts(host, o.app_host, o.cdp_host, o.region)
    real = any(is_customerio_host(h) for h in (host, app_host, cdp_host) if h)
    settings = Settings(
        host=host, app_host=app_host, cdp_host=cdp_host, credentials=credentials, region=o.region,
        mix=parse_mix(o.mix), batch_size=o.batch_size, seed=o.seed, people=o.people,
        new_share=o.new_share, hot_share=o.hot_share, hot_fraction=o.hot_fraction,
        user_rate=o.user_rate, retries=o.retries, retry_cap=o.retry_cap, shape=o.shape,
        delivery_ids=not o.no_delivery_ids, stages=parse_stages(o.stages),
        users=o.shape_users, base_users=o.shape_base_users, spawn_rate=o.shape_spawn_rate,
        duration=_span("--shape-duration", o.shape_duration), ramp=_span("--shape-ramp", o.shape_ramp),
        steps=o.shape_steps, spike_at=_span("--spike-at", o.spike_at),
        spike_length=_span("--spike-length", o.spike_length), target_rate=o.target_rate,
        probe_step_rate=o.probe_step_rate, probe_step_time=_span("--probe-step-time", o.probe_step_time),
        probe_latency_ms=o.probe_latency_ms, probe_max_429_share=o.probe_max_429_share,
        real_host=real, rate_cap=request_budget(parse_track_rate_limit(o.rate_limit).per_second, o.headroom) if real else None,
        run_time=getattr(options, "run_time", None), num_users=getattr(options, "num_users", None),
        locust_spawn_rate=getattr(options, "spawn_rate", None),
    )  # fmt: skip
    _check_host(settings, o)
    return settings


def _api_hosts(host: str, app_host: str, cdp_host: str, region: str) -> tuple[str, str]:
    # A real Track host implies the region's App and Pipelines hosts; anything else (the sandbox,
    # the pipeline's ingest) serves every API on the one --host.
    real_track = bool(host) and is_customerio_host(host)
    app = app_host or (APP_HOSTS[region] if real_track else host)
    cdp = cdp_host or (CDP_HOSTS[region] if real_track else host)
    return app.rstrip("/"), cdp.rstrip("/")


def _span(name: str, text: Any) -> float:
    try:
        return float(parse_timespan(str(text).strip()))
    except ValueError:
        raise OptionError(f"{name} {text!r} is not a duration; write e.g. 90, 30s, 5m or 1h30m") from None


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
