"""Every option of ``python -m sandbox``, declared once (see ``plumbing.options``).

The scalar keys of the YAML ``--config`` file are these options too (``store_mode: count``): a value
there sits below the command line and the environment. Workspaces, limits, per-API rate limits and
faults are structured and live in the YAML file only (see ``docs/sandbox.md``).
"""

from __future__ import annotations

from cio_contract import DEFAULT_RATE_LIMITS, RATE_LIMIT_GRAMMAR, parse_rate_limit
from httpserver import limits as server_limits
from plumbing.options import Option, Options, check_parses

__all__ = ["GEN_CERT", "OPTIONS", "RATE_MODES", "STORE_MODES"]

RATE_MODES = ("reject", "throttle", "drop", "block", "off")
STORE_MODES = ("full", "count")
_P = ("sandbox",)


def _token_problem(value: object) -> str | None:
    text = str(value)
    if len(text) < 16 or any(c.isspace() for c in text):
        return (
            "must be at least 16 characters without spaces; make one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(24))'"
        )
    return None


def _documented_limits() -> str:
    return ", ".join(f"{api}={limit}" for api, limit in DEFAULT_RATE_LIMITS.items())


OPTIONS = Options(
    "sandbox",
    (
        # Not --host: that is the target URL in Locust and runs.
        Option(
            "--bind",
            "127.0.0.1",
            "address to listen on; 0.0.0.0 for every interface (in a container)",
            env="SANDBOX_BIND",
            processes=_P,
            was="--host",
            was_env="SANDBOX_HOST",
        ),  # fmt: skip
        Option(
            "--port",
            8080,
            "port (0 picks a free one)",
            type=int,
            env="SANDBOX_PORT",
            processes=_P,
            low=0,
            high=65535,
        ),  # fmt: skip
        Option(
            "--config",
            None,
            "YAML file with workspaces, limits, modes and faults",
            env="SANDBOX_CONFIG",
            processes=_P,
            metavar="FILE",
        ),  # fmt: skip
        Option(
            "--workspace",
            [],
            "add a workspace (repeatable; the variable adds comma-separated ones); "
            "default: the demo workspace",
            env="SANDBOX_WORKSPACES",
            processes=_P,
            kind="list",
            metavar="SITE_ID:TRACK_KEY[:APP_KEY[:CDP_KEY]]",
            secret=True,
        ),  # fmt: skip
        Option(
            "--tls-cert",
            None,
            "PEM certificate: serve https",
            env="SANDBOX_TLS_CERT",
            processes=_P,
            metavar="FILE",
        ),  # fmt: skip
        Option(
            "--tls-key",
            None,
            "PEM private key for --tls-cert",
            env="SANDBOX_TLS_KEY",
            processes=_P,
            metavar="FILE",
        ),  # fmt: skip
        Option(
            "--processes",
            1,
            "worker processes sharing the port",
            type=int,
            env="SANDBOX_PROCESSES",
            processes=_P,
            low=1,
        ),  # fmt: skip
        Option(
            "--ready-file", None, "write {url, pid, admin} here once listening", processes=_P, metavar="FILE"
        ),  # fmt: skip
        Option(
            "--rate-mode",
            "reject",
            "past the limit: reject (429), throttle (delay), drop (200, not "
            "recorded), block (429 for --block-seconds), off",
            env="SANDBOX_RATE_MODE",
            processes=_P,
            choices=RATE_MODES,
        ),  # fmt: skip
        Option(
            "--rate-limit",
            [],
            "per-API limit, e.g. track=100, cdp=3000/3, app=10/1+5 (+BURST = the tight token bucket; "
            f"no API = track, as for the senders and the traffic model); APIs not given keep {_documented_limits()}",
            processes=_P,
            kind="list",
            metavar=RATE_LIMIT_GRAMMAR,
            check=check_parses(parse_rate_limit),
        ),  # fmt: skip
        Option(
            "--retry-after",
            0.0,
            "seconds for a Retry-After header on 429 (0 = no header)",
            type=float,
            env="SANDBOX_RETRY_AFTER",
            processes=_P,
            low=0,
            high=3600,
        ),  # fmt: skip
        Option(
            "--block-seconds",
            10.0,
            "block mode: how long a block lasts",
            type=float,
            env="SANDBOX_BLOCK_SECONDS",
            processes=_P,
            low=0,
            high=86_400,
        ),  # fmt: skip
        Option(
            "--block-after",
            0,
            "block mode: over-limit requests in one window that start a block (0 = a tenth of the limit)",
            type=int,
            env="SANDBOX_BLOCK_AFTER",
            processes=_P,
            low=0,
        ),  # fmt: skip
        Option(
            "--throttle-max-delay",
            30.0,
            "throttle mode: longest delay before a 429",
            type=float,
            env="SANDBOX_THROTTLE_MAX_DELAY",
            processes=_P,
            low=0,
            high=3600,
        ),  # fmt: skip
        Option(
            "--store",
            "full",
            "full (bounded people and events) or count only",
            env="SANDBOX_STORE",
            processes=_P,
            choices=STORE_MODES,
            dest_name="store_mode",
        ),  # fmt: skip
        Option(
            "--max-events",
            100_000,
            "events kept in full mode",
            type=int,
            env="SANDBOX_MAX_EVENTS",
            processes=_P,
            low=0,
        ),  # fmt: skip
        Option(
            "--max-people",
            100_000,
            "people kept in full mode",
            type=int,
            env="SANDBOX_MAX_PEOPLE",
            processes=_P,
            low=0,
        ),  # fmt: skip
        Option(
            "--dedup-window",
            200_000,
            "event ids remembered for duplicate detection (oldest forgotten first)",
            type=int,
            env="SANDBOX_DEDUP_WINDOW",
            processes=_P,
            low=1,
        ),  # fmt: skip
        Option(
            "--max-body-bytes",
            4 * 1024 * 1024,
            "App API bodies above this are refused (413) before they are read",
            type=int,
            env="SANDBOX_MAX_BODY_BYTES",
            processes=_P,
            low=1,
        ),  # fmt: skip
        Option(
            "--track-v1-body-bytes",
            1024 * 1024,
            "Track v1 bodies above this are refused (Track v1 documents no cap: UNCONFIRMED)",
            type=int,
            env="SANDBOX_TRACK_V1_BODY_BYTES",
            processes=_P,
            low=1,
        ),  # fmt: skip
        Option(
            "--faults",
            None,
            "faults document as JSON, or @FILE (JSON or YAML)",
            processes=_P,
            metavar="JSON|@FILE",
        ),  # fmt: skip
        Option(
            "--admin-token",
            None,
            "token non-loopback clients must send (Authorization: Bearer TOKEN) to reach /__sandbox and "
            "/metrics; without one only loopback clients are served (prefer the environment variable)",
            env="SANDBOX_ADMIN_TOKEN",
            processes=_P,
            metavar="TOKEN",
            secret=True,
            check=_token_problem,
        ),  # fmt: skip
        *server_limits.options("SANDBOX", "sandbox"),
        Option(
            "--arrivals-dir",
            None,
            "delivery accounting: each process appends the tracked ids it receives, with their arrival "
            "time, to a file in this directory (read by python -m analysis.report)",
            env="SANDBOX_ARRIVALS_DIR",
            processes=_P,
            metavar="DIR",
        ),  # fmt: skip
    ),
)

GEN_CERT = Options(
    "sandbox gen-cert",
    (
        Option(
            "--days",
            30,
            "validity of the certificate in days",
            type=int,
            low=1,
            env="SANDBOX_CERT_DAYS",
            processes=("sandbox gen-cert",),
        ),  # fmt: skip
    ),
)
"""``python -m sandbox gen-cert DIR``."""
