"""An application switches from Customer.io to the pipeline by changing the host alone: the official
``customerio`` SDK (https only) talks to ingest over TLS, and its calls reach the sandbox."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from customerio import CustomerIO

from tests.pipeline.conftest import Topics
from tests.pipeline.harness import start_ingest, start_sender
from tests.support.kafka import Broker
from tests.support.sandbox import DEMO, admin_call, running_sandbox

pytestmark = pytest.mark.slow


def test_official_sdk_through_the_pipeline(broker: Broker, topics: Topics, redis_url: str, log_dir: Path,
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """identify, track (own id), anonymous, page, devices, suppress, merge and v2 batch: all delivered."""
    from sandbox.tls import generate_self_signed

    cert, key = generate_self_signed(tmp_path / "tls")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    with running_sandbox(log_dir=log_dir) as sandbox, \
            start_ingest(broker, topics, log_dir, "--tls-cert", str(cert), "--tls-key", str(key)) as ingest, \
            start_sender(broker, topics, sandbox.url, redis_url, log_dir):  # fmt: skip
        assert ingest.url.startswith("https://")
        port = int(ingest.url.rsplit(":", 1)[1])
        cio = CustomerIO(DEMO["site_id"], DEMO["track_api_key"], host="127.0.0.1", port=port, retries=0)
        cio.identify("sdk-1", email="sdk@example.com", plan="pro")
        cio.track("sdk-1", "purchased", data={"sku": "A1"}, id="01SDKEVENT0000000000000000")
        cio.track_anonymous("anon-1", "viewed", data={"page": "/"})
        cio.pageview("sdk-1", "/pricing", referer="x")
        cio.add_device("sdk-1", "token-1", "ios", last_used=1700000000)
        cio.delete_device("sdk-1", "token-1")
        cio.suppress("sdk-1")
        cio.unsuppress("sdk-1")
        cio.merge_customers("id", "sdk-1", "id", "sdk-2")
        cio.batch(
            [{"type": "person", "action": "identify", "identifiers": {"id": "sdk-3"}, "attributes": {"a": 1}}]
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            stats = admin_call(sandbox.url, "stats")["workspaces"]["demo"]["apis"]["track"]
            if stats["operations_accepted"] >= 10:
                break
            time.sleep(0.3)
        events = {e["name"]: e for e in admin_call(sandbox.url, "events?limit=0")["events"]}
        people = {p["id"]: p for p in admin_call(sandbox.url, "people?limit=0")["people"] if "id" in p}
    assert stats["operations_accepted"] == 10 and stats["invalid"] == 0, stats
    assert events["purchased"]["id"] == "01SDKEVENT0000000000000000"
    assert events["viewed"]["person"] == "anon-1"
    assert "/pricing" in events
    assert people["sdk-3"]["attributes"] == {"a": 1}
    assert people["sdk-1"]["attributes"] == {"email": "sdk@example.com", "plan": "pro"}
