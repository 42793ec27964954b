"""The standard runs: what each profile asks of Locust and the sandbox, and its SLO file.

Thresholds live in ``profiles/<name>.slo.yaml`` (read by ``python -m analysis.report --slo``), so a
profile's pass/fail rules can be read and changed without touching code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PROFILES", "Profile", "profile", "slo_path"]

_PROFILES_DIR = Path(__file__).resolve().parent.parent / "profiles"


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    locust_args: tuple[str, ...]
    duration: float
    """Seconds the shape runs; the run is given this plus a margin before it is stopped."""
    sandbox_args: tuple[str, ...] = field(default=())
    report_args: tuple[str, ...] = field(default=())
    """Extra ``python -m analysis.report`` options, e.g. the knee's latency threshold."""


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "demo",
            "ramp 0 -> 10 -> 20 users (about 40 req/s) and down in 40 s, every user class and endpoint kind",
            # The mix adds the integration's rarer calls (segments, forms, delivery metrics, App
            # messages), so the first run touches every kind of endpoint the suite emulates.
            (
                "--shape",
                "stages",
                "--stages",
                "5s:10,30s:20,5s:0",
                "--mix",
                "identify=3,track=6,batch=1,segment=1,form=1,metric=1,message=1",
            ),  # fmt: skip
            40,
            # The first command a user runs: its knee and SLOs judge the suite (errors, 429s, flow),
            # not how busy the machine is, so latency counts only past 2 s (demo.slo.yaml agrees).
            report_args=("--knee-p95-ms", "2000"),
        ),
        Profile(
            "baseline",
            "steady 30 req/s for a minute (arrival-rate shape), identify + track integration mix",
            (
                "--shape",
                "arrival",
                "--target-rate",
                "30",
                "--shape-ramp",
                "5s",
                "--shape-duration",
                "60s",
                "IntegrationUser",
            ),
            60,
        ),  # fmt: skip
        Profile(
            "stress",
            "rate-limit probe: from 40 req/s, +20 req/s every 10 s, until 429s or p95 > 1 s (at most 3 min)",
            (
                "--shape",
                "probe",
                "--target-rate",
                "40",
                "--probe-step-rate",
                "20",
                "--probe-step-time",
                "10s",
                "--shape-duration",
                "3m",
                "IdentifyUser",
                "TrackUser",
            ),
            180,
        ),  # fmt: skip
        Profile(
            "spike",
            "5 users, a spike to 60 users (about 120 req/s) for 10 s at 20 s, one minute in all",
            (
                "--shape",
                "spike",
                "--shape-base-users",
                "5",
                "--shape-users",
                "60",
                "--spike-at",
                "20s",
                "--spike-length",
                "10s",
                "--shape-duration",
                "60s",
                "IdentifyUser",
                "TrackUser",
            ),
            60,
        ),  # fmt: skip
        Profile(
            "soak",
            "20 users (about 40 req/s) held for 10 minutes",
            (
                "--shape",
                "soak",
                "--shape-users",
                "20",
                "--shape-ramp",
                "10s",
                "--shape-duration",
                "10m",
                "IntegrationUser",
            ),
            600,
        ),  # fmt: skip
    )
}


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; use one of {', '.join(PROFILES)}") from None


def slo_path(name: str) -> Path:
    return _PROFILES_DIR / f"{name}.slo.yaml"
