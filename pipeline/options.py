"""Every option of ``python -m pipeline ingest|sender``, declared once (see ``plumbing.options``).

Each option is also ``PIPELINE_<OPTION>`` in the environment (``PIPELINE_RATE_LIMIT``), and
``--config FILE`` (``option = value`` lines) sits below the environment.
"""

from __future__ import annotations

from dataclasses import replace

from cio_contract import (
    CLIENT_BATCH_BYTES,
    CLIENT_BATCH_OPERATIONS,
    DEFAULT_LIMITS,
    DEFAULT_RATE_LIMITS,
    parse_track_rate_limit,
)
from httpserver import limits as server_limits
from plumbing.budget import HEADROOM, rate_limit_option
from plumbing.options import Option, Options, check_host_ports, declarer

__all__ = ["COMMON", "INGEST", "SENDER"]

_BOTH = ("ingest", "sender")
_I = ("ingest",)
_S = ("sender",)


def _env(flag: str) -> str:
    return "PIPELINE_" + flag.lstrip("-").upper().replace("-", "_")


def _o(flag: str, default: object, help: str, processes: tuple[str, ...], **kwargs: object) -> Option:
    return declarer("PIPELINE_", processes)(flag, default, help, **kwargs)


COMMON = Options(
    "Kafka and process",
    (
        _o(
            "--bootstrap-servers",
            None,
            "Kafka bootstrap servers, HOST:PORT[,...] (required)",
            _BOTH,
            check=check_host_ports,
            metavar="HOST:PORT[,...]",
        ),  # fmt: skip
        _o("--topic", "cio-events", "events topic", _BOTH),
        _o("--dead-letter-topic", "cio-events-dlq", "dead-letter topic", _BOTH),
        _o(
            "--workspace",
            [],
            "workspace credentials SITE_ID:TRACK_API_KEY (repeatable; the variable "
            "PIPELINE_WORKSPACES adds comma-separated ones); default: the sandbox demo workspace",
            _BOTH,
            kind="list",
            metavar="SITE_ID:TRACK_API_KEY",
            secret=True,
        ),  # fmt: skip
        _o(
            "--max-rss-mb",
            300,
            "resident-memory bound of this process, MiB",
            _BOTH,
            type=int,
            low=64,
            high=1_048_576,
        ),  # fmt: skip
        Option("--ready-file", None, "write {url, pid} here once listening", processes=_BOTH, metavar="FILE"),
        _o(
            "--startup-timeout",
            10.0,
            "seconds the broker (and Redis, for a sender) have to answer at start; past it, exit 2",
            _BOTH,
            type=float,
            low=0.1,
            high=600,
        ),  # fmt: skip
    ),
)
# PIPELINE_WORKSPACES (plural) is the variable operators already set.
COMMON = Options(COMMON.title, tuple(replace(o, env="PIPELINE_WORKSPACES") if o.dest == "workspace" else o
                                     for o in COMMON))  # fmt: skip

INGEST = Options(
    "ingest",
    (
        # Not --host: that is the target URL in Locust and runs.
        _o(
            "--bind",
            "127.0.0.1",
            "address to listen on; 0.0.0.0 for every interface (in a container)",
            _I,
            was="--host",
            was_env="PIPELINE_HOST",
        ),  # fmt: skip
        _o("--port", 8090, "port (0 picks a free one)", _I, type=int, low=0, high=65535),
        _o(
            "--queue-messages",
            20_000,
            "producer queue bound in messages; past it, ingest answers 503",
            _I,
            type=int,
            low=100,
            high=10_000_000,
        ),  # fmt: skip
        _o(
            "--queue-kbytes", 16_384, "producer queue bound in KiB", _I, type=int, low=1024, high=2_097_151
        ),  # fmt: skip
        _o(
            "--tls-cert",
            None,
            "PEM certificate: serve https (the official SDKs only speak https)",
            _I,
            metavar="FILE",
        ),  # fmt: skip
        _o("--tls-key", None, "PEM private key for --tls-cert", _I, metavar="FILE"),
        _o(
            "--delivery-timeout",
            5.0,
            "seconds to wait for the broker's ack before answering 503",
            _I,
            type=float,
            low=0.1,
            high=300,
        ),  # fmt: skip
        *server_limits.options("PIPELINE", "ingest"),
    ),
)

SENDER = Options(
    "sender",
    (
        _o(
            "--target",
            None,
            "base URL of Customer.io's Track API or the sandbox (required)",
            _S,
            schemes=("http", "https"),
            metavar="URL",
        ),  # fmt: skip
        _o(
            "--redis-url",
            None,
            "Redis for the shared rate limit, redis://HOST:PORT/DB (required)",
            _S,
            schemes=("redis", "rediss", "unix"),
            metavar="URL",
        ),  # fmt: skip
        _o("--group-id", "cio-senders", "consumer group", _S),
        rate_limit_option(parse_track_rate_limit, DEFAULT_RATE_LIMITS["track"], _env("--rate-limit"), _S),
        replace(HEADROOM, env=_env("--headroom"), processes=("locust", "sender", "capacity")),
        _o(
            "--burst",
            0,
            "requests this sender may send ahead of the even spacing (never more than --rate-limit's +BURST)",
            _S,
            type=int,
            low=0,
        ),  # fmt: skip
        _o(
            "--max-batch-operations",
            1000,
            "operations per request",
            _S,
            type=int,
            low=1,
            high=CLIENT_BATCH_OPERATIONS,
        ),  # fmt: skip
        _o(
            "--max-batch-bytes",
            CLIENT_BATCH_BYTES,
            "bytes per request (below the v2 batch limit)",
            _S,
            type=int,
            low=DEFAULT_LIMITS.v2_operation_bytes,
            high=DEFAULT_LIMITS.v2_batch_bytes,
            high_open=True,
        ),  # fmt: skip
        _o("--linger-ms", 200.0, "longest wait to fill a batch, ms", _S, type=float, low=0, high=60_000),
        _o(
            "--concurrency",
            16,
            "requests in flight (held for the round trip only)",
            _S,
            type=int,
            low=1,
            high=1024,
        ),
        _o("--request-timeout", 10.0, "seconds per request", _S, type=float, low=0, low_open=True, high=600),
        _o("--backoff-max", 10.0, "longest retry backoff, seconds", _S, type=float, low=0, high=3600),
        _o("--max-inflight-events", 20_000, "events read but not delivered", _S, type=int, low=1),
        _o("--max-inflight-mb", 32.0, "MiB of events in flight", _S, type=float, low=1),
        _o(
            "--session-timeout-ms",
            10_000,
            "consumer group session timeout",
            _S,
            type=int,
            low=1000,
            high=3_600_000,
        ),  # fmt: skip
        _o(
            "--shutdown-timeout",
            20.0,
            "seconds to finish deliveries on SIGTERM",
            _S,
            type=float,
            low=0,
            high=3600,
        ),  # fmt: skip
        _o(
            "--test-skip-one-in",
            0,
            "TEST ONLY: drop 1 in N events silently (committed, never sent), to prove that delivery "
            "accounting catches a losing pipeline; 0 = off",
            _S,
            type=int,
            low=0,
        ),  # fmt: skip
        _o(
            "--metrics-bind",
            "127.0.0.1",
            "address the /metrics server listens on",
            _S,
            was="--metrics-host",
            was_env="PIPELINE_METRICS_HOST",
        ),  # fmt: skip
        _o(
            "--metrics-port", 9464, "port of the /metrics server (0 = free)", _S, type=int, low=0, high=65535
        ),  # fmt: skip
    ),
)
