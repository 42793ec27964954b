"""The official SDKs work unchanged against the sandbox: customerio (Track over TLS, App, batch) and
customerio-cdp-analytics (Pipelines)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from customerio import APIClient, CustomerIO, CustomerIOException, SendEmailRequest
from customerio.analytics import Client as CdpClient
from customerio.analytics.request import APIError

from runs.processes import ManagedProcess
from tests.sandbox.conftest import UNLIMITED
from tests.support.sandbox import DEMO, admin_call, running_sandbox, sandbox_stats


@pytest.fixture(scope="module")
def tls_sandbox(tls_cert, tmp_path_factory) -> Iterator[ManagedProcess]:
    cert, key = tls_cert
    with running_sandbox(*UNLIMITED, "--tls-cert", str(cert), "--tls-key", str(key),
                         log_dir=tmp_path_factory.mktemp("tls-sandbox")) as process:  # fmt: skip
        yield process


@pytest.fixture
def cio(tls_sandbox, tls_cert, monkeypatch) -> CustomerIO:
    """The Track client exactly as an application builds it, trusting the sandbox's certificate."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_cert[0]))
    port = int(tls_sandbox.url.rsplit(":", 1)[1])
    return CustomerIO(DEMO["site_id"], DEMO["track_api_key"], host="127.0.0.1", port=port, retries=0)


def test_sandbox_serves_https(tls_sandbox):
    """With --tls-cert/--tls-key the ready file announces an https URL."""
    assert tls_sandbox.url.startswith("https://127.0.0.1:")


def test_track_sdk_over_tls(cio, tls_sandbox, tls_cert):
    """Every Track call of the official SDK succeeds over TLS and lands in the sandbox."""
    cio.identify("sdk-1", email="sdk@example.com", plan="pro")
    cio.track("sdk-1", "purchased", data={"sku": "A1"}, id="01SDKEVENT0000000000000000")
    cio.track_anonymous("anon-1", "viewed", data={"page": "/"})
    cio.pageview("sdk-1", "/pricing", referer="x")
    cio.add_device("sdk-1", "token-1", "ios", last_used=1700000000)
    cio.delete_device("sdk-1", "token-1")
    cio.suppress("sdk-1")
    cio.unsuppress("sdk-1")
    cio.identify("sdk-2", email="two@example.com")
    cio.merge_customers("id", "sdk-1", "id", "sdk-2")
    cio.batch([{"type": "person", "action": "identify", "identifiers": {"id": "sdk-3"}, "attributes": {"a": 1}},
               {"type": "person", "action": "event", "identifiers": {"id": "sdk-3"}, "name": "batched"}])  # fmt: skip
    cio.delete("sdk-3")
    stats = _stats_over_tls(tls_sandbox, tls_cert)
    demo = stats["workspaces"]["demo"]["endpoints"]
    assert demo["identify"]["accepted"] >= 2 and demo["v2_batch"]["operations_accepted"] >= 2
    assert demo["merge_customers"]["accepted"] >= 1 and demo["delete_device"]["accepted"] >= 1


def _stats_over_tls(process: ManagedProcess, tls_cert) -> dict:
    import requests

    return requests.get(f"{process.url}/__sandbox/stats", verify=str(tls_cert[0]), timeout=10).json()


def test_track_sdk_surfaces_validation_errors(cio):
    """A 400 from the sandbox reaches the SDK caller as CustomerIOException with the message."""
    with pytest.raises(CustomerIOException, match="event name cannot be longer than 100 bytes"):
        cio.track("sdk-1", "e" * 101)


def test_track_sdk_wrong_key_is_401(tls_sandbox, tls_cert, monkeypatch):
    """A wrong API key surfaces as a 401 CustomerIOException."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_cert[0]))
    port = int(tls_sandbox.url.rsplit(":", 1)[1])
    bad = CustomerIO(DEMO["site_id"], "wrong", host="127.0.0.1", port=port, retries=0)
    with pytest.raises(CustomerIOException, match="401"):
        bad.identify("x", a=1)


def test_app_sdk_send_email(sandbox):
    """APIClient(url=http://...) sends transactional email and gets delivery_id/queued_at."""
    client = APIClient(DEMO["app_api_key"], url=sandbox.url)
    request = SendEmailRequest(
        transactional_message_id="welcome", to="a@example.com", identifiers={"id": "sdk-1"}
    )
    response = client.send_email(request)
    assert set(response) == {"delivery_id", "queued_at"}


def test_app_sdk_wrong_key(sandbox):
    """The App SDK raises on a wrong Bearer key."""
    client = APIClient("wrong", url=sandbox.url)
    with pytest.raises(CustomerIOException, match="401"):
        client.send_email(
            SendEmailRequest(transactional_message_id=1, to="a@example.com", identifiers={"id": "x"})
        )


def test_cdp_sdk(fresh_sandbox):
    """customerio-cdp-analytics in sync mode: every call type succeeds and is counted in /v1/batch."""
    client = CdpClient(DEMO["cdp_write_key"], host=fresh_sandbox.url, sync_mode=True)
    client.identify("cdp-1", {"email": "c@example.com"})
    client.track("cdp-1", "Order Completed", {"total": 10})
    client.page("cdp-1", "Docs", "Intro")
    client.screen("cdp-1", "App", "Home")
    client.group("cdp-1", "g-1", {"name": "team"})
    client.alias("cdp-1", "cdp-old")
    batch = sandbox_stats(fresh_sandbox.url)["workspaces"]["demo"]["endpoints"]["cdp_batch"]
    assert (batch["accepted"], batch["operations_accepted"]) == (6, 6)
    names = [e["name"] for e in admin_call(fresh_sandbox.url, "events?person=cdp-1")["events"]]
    assert names == ["Order Completed", "Intro", "Home"]


def test_cdp_sdk_wrong_key_raises_api_error(sandbox):
    """A wrong write key reaches the SDK as APIError (the body has code and message)."""
    client = CdpClient("wrong-key", host=sandbox.url, sync_mode=True)
    with pytest.raises(APIError) as info:
        client.track("cdp-1", "E")
    assert info.value.status == 401 and info.value.code == "unauthorized"


def test_cdp_sdk_gzip(fresh_sandbox):
    """The CDP SDK with gzip=True sends Content-Encoding: gzip; the sandbox inflates and accepts it."""
    client = CdpClient(DEMO["cdp_write_key"], host=fresh_sandbox.url, sync_mode=True, gzip=True)
    client.track("gz-1", "Gzipped", {"n": 1})
    batch = sandbox_stats(fresh_sandbox.url)["workspaces"]["demo"]["endpoints"]["cdp_batch"]
    assert (batch["accepted"], batch["operations_accepted"]) == (1, 1)


def test_gzip_bomb_is_too_large(fresh_sandbox):
    """A small gzip body that inflates past the cap is refused as too large, not inflated whole."""
    import gzip

    import requests

    bomb = gzip.compress(b'{"batch":[' + b" " * 50_000_000 + b"]}")
    assert len(bomb) < 100_000
    r = requests.post(f"{fresh_sandbox.url}/v1/batch", data=bomb, auth=(DEMO["cdp_write_key"], ""),
                      headers={"Content-Encoding": "gzip", "X-Strict-Mode": "1"})  # fmt: skip
    assert r.status_code == 400 and r.json()["code"] == "too_large"
