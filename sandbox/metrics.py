"""Prometheus exposition of the sandbox's shared counters (``GET /metrics``).

Built from the same shared-memory counters as ``/__sandbox/stats`` at scrape time, so the two always
agree and the request path pays nothing for metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from sandbox.accounting import OUTCOMES
from sandbox.ratelimit import APIS

if TYPE_CHECKING:
    from sandbox.app import Sandbox

__all__ = ["SandboxCollector", "render"]


class SandboxCollector:
    def __init__(self, app: Sandbox):
        self._app = app

    def collect(self) -> Iterator[Metric]:
        app = self._app
        requests = CounterMetricFamily(
            "sandbox_requests", "Requests by workspace, API, endpoint and outcome",
            labels=["workspace", "api", "endpoint", "outcome"],
        )  # fmt: skip
        operations = CounterMetricFamily(
            "sandbox_operations_accepted", "Accepted operations (a batch of N valid operations counts N)",
            labels=["workspace", "api"],
        )  # fmt: skip
        ops: dict[tuple[str, str], int] = {}
        for workspace, endpoint, counters in app.accounting.counter_rows():
            for outcome in OUTCOMES:
                if counters[outcome]:
                    requests.add_metric(
                        [workspace, str(endpoint.api), endpoint.stats_name, outcome], counters[outcome]
                    )
            key = (workspace, str(endpoint.api))
            ops[key] = ops.get(key, 0) + counters["operations_accepted"]
        for (workspace, api), value in ops.items():
            operations.add_metric([workspace, api], value)
        yield requests
        yield operations
        yield self._rate_limits()
        duplicates = CounterMetricFamily(
            "sandbox_duplicate_events", "Events whose id was seen before", labels=["workspace"]
        )
        for workspace, value in app.accounting.duplicates_by_workspace().items():
            duplicates.add_metric([workspace], value)
        yield duplicates

    def _rate_limits(self) -> GaugeMetricFamily:
        gauge = GaugeMetricFamily(
            "sandbox_rate_limit_per_second", "Configured sustained rate limit", labels=["workspace", "api"]
        )
        for index, ws in enumerate(self._app.config.workspaces, start=1):
            for api_index, api in enumerate(APIS):
                policy = self._app.limiter.policy(index, api_index)
                gauge.add_metric([ws.label, api], policy.limit.per_second if policy.mode != "off" else 0.0)
        return gauge


def render(app: Sandbox) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SandboxCollector(app))
    return generate_latest(registry)
