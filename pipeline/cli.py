"""``python -m pipeline ingest|sender``: options (each also ``PIPELINE_<OPTION>`` in the environment).

Bad input ends with one line on stderr and exit code 2; a missing broker or Redis is reported the
same way at startup rather than as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from pipeline.config import ConfigError, IngestConfig, KafkaSettings, SenderConfig, parse_workspaces

__all__ = ["main", "parser"]

_ENV_PREFIX = "PIPELINE_"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap-servers", help="Kafka bootstrap servers, HOST:PORT[,...] (required)")
    p.add_argument("--topic", help="events topic (default cio-events)")
    p.add_argument("--dead-letter-topic", help="dead-letter topic (default cio-events-dlq)")
    p.add_argument("--workspace", action="append", metavar="SITE_ID:TRACK_API_KEY",
                   help="workspace credentials (repeatable; env PIPELINE_WORKSPACES is comma-separated; "
                        "default the sandbox demo workspace)")  # fmt: skip
    p.add_argument("--max-rss-mb", type=int, help="resident-memory bound of this process (default 300)")
    p.add_argument("--ready-file", help="write {url, pid} here once listening")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    ingest = sub.add_parser("ingest", help="Track-API-compatible service that keeps every call in Kafka")
    _common(ingest)
    ingest.add_argument("--host", help="listen address (default 127.0.0.1)")
    ingest.add_argument("--port", type=int, help="port (default 8090; 0 picks a free one)")
    ingest.add_argument("--queue-messages", type=int, help="producer queue bound in messages (default 20000)")
    ingest.add_argument("--queue-kbytes", type=int, help="producer queue bound in KiB (default 16384)")
    ingest.add_argument(
        "--tls-cert", help="PEM certificate: serve https (the official SDKs only speak https)"
    )
    ingest.add_argument("--tls-key", help="PEM private key for --tls-cert")
    ingest.add_argument(
        "--delivery-timeout", type=float, help="seconds to wait for the broker's ack (default 5)"
    )
    sender = sub.add_parser("sender", help="consume, batch and deliver within the shared rate limit")
    _common(sender)
    sender.add_argument("--target", help="base URL of Customer.io's Track API or the sandbox (required)")
    sender.add_argument(
        "--redis-url", help="Redis for the shared rate limit, redis://HOST:PORT/DB (required)"
    )
    sender.add_argument("--group-id", help="consumer group (default cio-senders)")
    sender.add_argument("--rate-limit", type=float, help="Track requests/s per workspace (default 100)")
    sender.add_argument("--headroom", type=float, help="fraction of --rate-limit to use (default 0.9)")
    sender.add_argument("--burst", type=int, help="requests allowed ahead of the even spacing (default 0)")
    sender.add_argument("--max-batch-operations", type=int, help="operations per request (default 1000)")
    sender.add_argument("--max-batch-bytes", type=int, help="bytes per request (default 475000)")
    sender.add_argument("--linger-ms", type=float, help="longest wait to fill a batch (default 200)")
    sender.add_argument("--concurrency", type=int, help="requests in flight (default 8)")
    sender.add_argument("--request-timeout", type=float, help="seconds per request (default 10)")
    sender.add_argument("--backoff-max", type=float, help="longest retry backoff in seconds (default 10)")
    sender.add_argument(
        "--max-inflight-events", type=int, help="events read but not delivered (default 20000)"
    )
    sender.add_argument("--max-inflight-mb", type=float, help="MiB of events in flight (default 32)")
    sender.add_argument(
        "--session-timeout-ms", type=int, help="consumer group session timeout (default 10000)"
    )
    sender.add_argument(
        "--shutdown-timeout", type=float, help="seconds to finish deliveries on SIGTERM (default 20)"
    )
    sender.add_argument("--metrics-host", help="address of the /metrics server (default 127.0.0.1)")
    sender.add_argument(
        "--metrics-port", type=int, help="port of the /metrics server (default 9464; 0 = free)"
    )
    return p


def _with_env(args: argparse.Namespace, environ: dict[str, str]) -> dict[str, Any]:
    values = {}
    for key, value in vars(args).items():
        env_value = environ.get(_ENV_PREFIX + key.upper())
        if value is None and env_value is not None:
            value = env_value.split(",") if key == "workspace" else env_value
        values[key] = value
    return values


def _typed(values: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = values.get(key)
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"--{key.replace('_', '-')} {value!r}: expected a {kind.__name__}") from None


def _kafka(values: dict[str, Any]) -> KafkaSettings:
    if not values.get("bootstrap_servers"):
        raise ConfigError(
            "--bootstrap-servers is required (or PIPELINE_BOOTSTRAP_SERVERS), e.g. 127.0.0.1:9092"
        )
    return KafkaSettings(values["bootstrap_servers"], values.get("topic") or "cio-events",
                         values.get("dead_letter_topic") or "cio-events-dlq")  # fmt: skip


def build_ingest(values: dict[str, Any]) -> IngestConfig:
    d = IngestConfig(KafkaSettings(""))
    return IngestConfig(
        kafka=_kafka(values),
        workspaces=parse_workspaces(values.get("workspace") or []),
        host=values.get("host") or d.host,
        port=_typed(values, "port", int, d.port),
        queue_messages=_typed(values, "queue_messages", int, d.queue_messages),
        queue_kbytes=_typed(values, "queue_kbytes", int, d.queue_kbytes),
        delivery_timeout=_typed(values, "delivery_timeout", float, d.delivery_timeout),
        max_rss_mb=_typed(values, "max_rss_mb", int, d.max_rss_mb),
        tls_cert=values.get("tls_cert"),
        tls_key=values.get("tls_key"),
        ready_file=values.get("ready_file"),
    )


def build_sender(values: dict[str, Any]) -> SenderConfig:
    for key in ("target", "redis_url"):
        if not values.get(key):
            option = key.replace("_", "-")
            raise ConfigError(f"--{option} is required (or {_ENV_PREFIX}{key.upper()})")
    d = SenderConfig(KafkaSettings(""), "", "")
    t = lambda key, kind, default: _typed(values, key, kind, default)  # noqa: E731 - local shorthand
    return SenderConfig(
        kafka=_kafka(values), target=values["target"].rstrip("/"), redis_url=values["redis_url"],
        workspaces=parse_workspaces(values.get("workspace") or []),
        group_id=values.get("group_id") or d.group_id,
        rate_limit=t("rate_limit", float, d.rate_limit), headroom=t("headroom", float, d.headroom),
        burst=t("burst", int, d.burst),
        max_batch_operations=t("max_batch_operations", int, d.max_batch_operations),
        max_batch_bytes=t("max_batch_bytes", int, d.max_batch_bytes),
        linger=t("linger_ms", float, d.linger * 1000) / 1000,
        concurrency=t("concurrency", int, d.concurrency),
        request_timeout=t("request_timeout", float, d.request_timeout),
        backoff_max=t("backoff_max", float, d.backoff_max),
        max_inflight_events=t("max_inflight_events", int, d.max_inflight_events),
        max_inflight_bytes=int(t("max_inflight_mb", float, d.max_inflight_bytes / 2**20) * 2**20),
        max_rss_mb=t("max_rss_mb", int, d.max_rss_mb),
        session_timeout_ms=t("session_timeout_ms", int, d.session_timeout_ms),
        shutdown_timeout=t("shutdown_timeout", float, d.shutdown_timeout),
        metrics_host=values.get("metrics_host") or d.metrics_host,
        metrics_port=t("metrics_port", int, d.metrics_port),
        ready_file=values.get("ready_file"),
    ).validate()  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        values = _with_env(args, dict(os.environ))
        if args.command == "ingest":
            from pipeline.ingest import serve as serve_ingest

            config = build_ingest(values)
            config.ssl_context()  # fail now, with one line, on a bad certificate
            coro = serve_ingest(config)
        else:
            from pipeline.sender import serve as serve_sender

            coro = serve_sender(build_sender(values))
    except ConfigError as exc:
        print(f"pipeline {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    from pipeline.runtime import run

    try:
        run(coro)
    except OSError as exc:  # the listen address: in use, not local, not permitted
        print(f"pipeline {args.command}: cannot listen ({exc.strerror or exc}); choose another --host/--port",
              file=sys.stderr)  # fmt: skip
        return 2
    return 0
