"""``python -m pipeline ingest|sender``: options (each also ``PIPELINE_<OPTION>`` in the environment).

Bad input ends with one line on stderr and exit code 2; a missing broker or Redis is reported the
same way at startup rather than as a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from cio_contract import parse_track_rate_limit
from httpserver import limits as server_limits
from pipeline.config import ConfigError, IngestConfig, KafkaSettings, SenderConfig, parse_workspaces
from pipeline.options import COMMON, INGEST, SENDER
from plumbing.errors import SuiteError
from plumbing.options import Options, Parser, report

__all__ = ["build_ingest", "build_sender", "main", "parser"]

_PROG = "python -m pipeline"
_TABLES: dict[str, tuple[Options, Options]] = {"ingest": (COMMON, INGEST), "sender": (COMMON, SENDER)}
_HELP = {
    "ingest": "Track-API-compatible service that keeps every call in Kafka",
    "sender": "consume, batch and deliver within the shared rate limit",
}


def parser(command: str | None = None) -> Parser:
    """The whole CLI (``command=None``) or one subcommand's own parser."""
    if command is not None:
        p = Parser(prog=f"{_PROG} {command}", description=_HELP[command])
        for table in _TABLES[command]:
            table.add_to(p)
        return p
    p = Parser(prog=_PROG, description=__doc__.splitlines()[0], config_option=False)
    p.add_argument("command", choices=list(_TABLES), help="; ".join(f"{k}: {v}" for k, v in _HELP.items()))
    return p


def _required(values: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if not values.get(key):
            option = key.replace("_", "-")
            example = {"bootstrap_servers": ", e.g. 127.0.0.1:9092"}.get(key, "")
            raise ConfigError(f"--{option} is required (or PIPELINE_{key.upper()}){example}")


def _kafka(values: dict[str, Any]) -> KafkaSettings:
    _required(values, "bootstrap_servers")
    return KafkaSettings(values["bootstrap_servers"], values["topic"], values["dead_letter_topic"])


_INGEST_FIELDS = ("bind", "port", "queue_messages", "queue_kbytes", "delivery_timeout", "max_rss_mb",
                  "tls_cert", "tls_key", "ready_file", "startup_timeout")  # fmt: skip


def build_ingest(values: dict[str, Any]) -> IngestConfig:
    return IngestConfig(
        kafka=_kafka(values),
        workspaces=parse_workspaces(values["workspace"]),
        server_limits=server_limits.from_values(values),
        **{name: values[name] for name in _INGEST_FIELDS},
    )


def build_sender(values: dict[str, Any]) -> SenderConfig:
    kafka = _kafka(values)
    _required(values, "target", "redis_url")
    limit = parse_track_rate_limit(values["rate_limit"])  # checked by the declaration
    return SenderConfig(
        kafka=kafka, target=values["target"].rstrip("/"), redis_url=values["redis_url"],
        workspaces=parse_workspaces(values["workspace"]), group_id=values["group_id"],
        rate_limit=limit.per_second, headroom=values["headroom"],
        burst=min(values["burst"], limit.effective_burst),
        rate_window=limit.per_seconds if limit.sliding else 0.0,
        max_batch_operations=values["max_batch_operations"], max_batch_bytes=values["max_batch_bytes"],
        linger=values["linger_ms"] / 1000, concurrency=values["concurrency"],
        request_timeout=values["request_timeout"], backoff_max=values["backoff_max"],
        max_inflight_events=values["max_inflight_events"],
        max_inflight_bytes=int(values["max_inflight_mb"] * 2**20), max_rss_mb=values["max_rss_mb"],
        session_timeout_ms=values["session_timeout_ms"], shutdown_timeout=values["shutdown_timeout"],
        metrics_bind=values["metrics_bind"], metrics_port=values["metrics_port"],
        ready_file=values["ready_file"], startup_timeout=values["startup_timeout"],
        test_skip_one_in=values["test_skip_one_in"],
    )  # fmt: skip


def values_for(command: str, argv: Sequence[str], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The checked option values of ``command`` (command line > environment > --config > default)."""
    args = parser(command).parse_checked(argv, environ)
    values: dict[str, Any] = {}
    for table in _TABLES[command]:
        values.update(table.values(args, environ))
    return values


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in _TABLES else None
    if command is None:
        parser().parse_args(argv[:1])  # prints the help, or one line naming the missing command (exit 2)
        return 2
    prog = f"pipeline {command}"
    try:
        values = values_for(command, argv[1:])
        if command == "ingest":
            from pipeline.ingest import serve as serve_ingest

            config = build_ingest(values)
            config.ssl_context()  # fail now, with one line, on a bad certificate
            coro = serve_ingest(config)
        else:
            from pipeline.sender import serve as serve_sender

            coro = serve_sender(build_sender(values))
    except SuiteError as exc:
        return report(prog, exc)
    from pipeline.runtime import run

    try:
        run(coro)
    except SuiteError as exc:  # a service it needs did not answer at start (pipeline.startup)
        return report(prog, exc)
    except OSError as exc:  # the listen address: in use, not local, not permitted
        print(f"{prog}: cannot listen ({exc.strerror or exc}); choose another --bind/--port", file=sys.stderr)
        return 2
    return 0
