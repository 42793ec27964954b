"""A process serving the ways a metrics endpoint behaves: growing counters, slow, garbage, 404.

``python -m tests.monitoring.endpoints --ready-file F`` listens on a free loopback port. Paths:
``/metrics`` (Prometheus text whose counters grow at the fixed ``RATES``), ``/slow`` (answers after
``SLOW_S`` seconds), ``/garbage`` (HTML), anything else 404 (``/metrics`` too with ``--no-metrics``).
It is a separate process so a stalled answer stalls only it, as a real slow service would.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from plumbing.ready import write_ready_file

RATES = {"accepted": 40.0, "rate_limited": 10.0, "invalid": 2.0, "delivered": 30.0}
TRACK_LIMIT = 25.0
LAG = 7.0
SLOW_S = 5.0


class GrowingCounters:
    """Counters that grow at ``RATES`` per second since the process started."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        elapsed = time.monotonic() - self.started
        requests = CounterMetricFamily(
            "sandbox_requests", "requests", labels=["workspace", "api", "endpoint", "outcome"]
        )
        for outcome in ("accepted", "rate_limited", "invalid"):
            requests.add_metric(["ws-secret", "track", "track", outcome], RATES[outcome] * elapsed)
        yield requests
        operations = CounterMetricFamily("sandbox_operations_accepted", "ops", labels=["workspace", "api"])
        operations.add_metric(["ws-secret", "track"], RATES["accepted"] * elapsed)
        yield operations
        limit = GaugeMetricFamily("sandbox_rate_limit_per_second", "limit", labels=["workspace", "api"])
        limit.add_metric(["ws-secret", "track"], TRACK_LIMIT)
        yield limit
        yield CounterMetricFamily("pipeline_sender_events_delivered", "d", value=RATES["delivered"] * elapsed)
        lag = GaugeMetricFamily("pipeline_consumer_lag", "lag", labels=["topic", "partition"])
        lag.add_metric(["events", "0"], LAG)
        yield lag


def handler_for(registry: CollectorRegistry, metrics: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics" and metrics:
                self._send(200, generate_latest(registry), "text/plain; version=0.0.4")
            elif self.path == "/slow":
                time.sleep(SLOW_S)
                self._send(200, generate_latest(registry), "text/plain")
            elif self.path == "/garbage":
                self._send(200, b"<html><body>{not: prometheus}</body></html>", "text/html")
            else:
                self._send(404, b"not found", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass  # the sampler gave up on a slow answer; that is the point

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--no-metrics", action="store_true", help="answer 404 on /metrics too")
    args = parser.parse_args()
    registry = CollectorRegistry()
    registry.register(GrowingCounters())
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(registry, not args.no_metrics))
    server.daemon_threads = True
    write_ready_file(args.ready_file, {"url": f"http://127.0.0.1:{server.server_port}", "pid": os.getpid()})
    server.serve_forever()


if __name__ == "__main__":
    main()
