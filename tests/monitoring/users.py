"""A small locustfile for the monitoring tests: two Track users, plus monitoring.

Used until the traffic model's ``locustfiles/`` main file exists; it imports the monitoring package
exactly as that file does.
"""

from __future__ import annotations

from locust import HttpUser, constant_throughput, task

import itertools

import locustfiles.monitoring  # noqa: F401 - registers the sampler and the Customer.io tab
from tests.support.sandbox import DEMO

_ids = itertools.count()


class TrackEventsUser(HttpUser):
    """Posts one event per request for its own person, at 10 requests a second."""

    wait_time = constant_throughput(10)

    def on_start(self) -> None:
        self.client.auth = (DEMO["site_id"], DEMO["track_api_key"])
        self.person = f"person-{next(_ids)}"

    @task
    def track(self) -> None:
        self.client.post(
            f"/api/v1/customers/{self.person}/events",
            json={"name": "page_viewed", "data": {"n": 1}},
            name="/api/v1/customers/[id]/events",
        )


class IdentifyUser(HttpUser):
    """Updates one person's attributes, at 5 requests a second."""

    wait_time = constant_throughput(5)

    def on_start(self) -> None:
        self.client.auth = (DEMO["site_id"], DEMO["track_api_key"])
        self.person = f"person-{next(_ids)}"

    @task
    def identify(self) -> None:
        self.client.put(
            f"/api/v1/customers/{self.person}", json={"plan": "pro"}, name="/api/v1/customers/[id]"
        )
