"""Fault injection, at start (--faults) and at run time (PUT /__sandbox/faults), per endpoint."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.sandbox.conftest import UNLIMITED
from tests.support.sandbox import admin_call, running_sandbox, sandbox_stats

AUTH = ("demo-site", "demo-track-key")


def _put_faults(url: str, document: dict) -> requests.Response:
    return requests.put(f"{url}/__sandbox/faults", json=document, timeout=10)


def test_error_ratio_by_status_per_endpoint(fresh_sandbox):
    """errors {503: 0.5} on identify: about half fail with 503 JSON; track is untouched; counted as fault."""
    url = fresh_sandbox.url
    assert _put_faults(url, {"identify": {"errors": {"503": 0.5}}}).status_code == 200
    with requests.Session() as s:
        s.auth = AUTH
        statuses = [s.put(f"{url}/api/v1/customers/f{i}", json={}).status_code for i in range(400)]
        assert {
            s.post(f"{url}/api/v1/customers/f/events", json={"name": "e"}).status_code for _ in range(20)
        } == {200}
        r = next(
            r
            for r in (s.put(f"{url}/api/v1/customers/x", json={}) for _ in range(50))
            if r.status_code == 503
        )
    assert r.json()["meta"]["error"].startswith("injected fault")
    failed = statuses.count(503)
    assert 140 < failed < 260 and set(statuses) == {200, 503}
    identify = sandbox_stats(url)["workspaces"]["demo"]["endpoints"]["identify"]
    assert identify["fault"] == failed + 1  # the loop that fetched one 503 body stopped at it


def test_latency_fixed_plus_tail(fresh_sandbox):
    """latency fixed_ms 200: every answer takes at least 200 ms; removing faults restores speed."""
    url = fresh_sandbox.url
    _put_faults(url, {"*": {"latency": {"fixed_ms": 200, "tail_ms": 10, "tail_alpha": 1.5, "max_ms": 500}}})
    with requests.Session() as s:
        s.auth = AUTH
        durations = []
        for i in range(5):
            start = time.perf_counter()
            assert s.put(f"{url}/api/v1/customers/l{i}", json={}).status_code == 200
            durations.append(time.perf_counter() - start)
        assert min(durations) >= 0.2 and max(durations) < 2.0
        requests.delete(f"{url}/__sandbox/faults", timeout=10)
        start = time.perf_counter()
        s.put(f"{url}/api/v1/customers/fast", json={})
        assert time.perf_counter() - start < 0.15


def test_connection_reset(fresh_sandbox):
    """reset_ratio 1: the client sees a connection reset; the request is counted as a fault."""
    url = fresh_sandbox.url
    _put_faults(url, {"track": {"reset_ratio": 1.0}})
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{url}/api/v1/customers/r/events", json={"name": "e"}, auth=AUTH, timeout=5)
    assert sandbox_stats(url)["workspaces"]["demo"]["endpoints"]["track"]["fault"] == 1


def test_hang_until_client_timeout(fresh_sandbox):
    """hang_ratio 1: the request never gets an answer and the client times out."""
    url = fresh_sandbox.url
    _put_faults(url, {"identify": {"hang_ratio": 1.0}})
    with pytest.raises(requests.Timeout):
        requests.put(f"{url}/api/v1/customers/h", json={}, auth=AUTH, timeout=0.5)
    assert admin_call(url, "health") == {"status": "ok"}


def test_outage_for_n_seconds(fresh_sandbox):
    """outage_seconds 1: every request gets 503 for one second, then service resumes."""
    url = fresh_sandbox.url
    document = _put_faults(url, {"*": {"outage_seconds": 1}}).json()
    assert 0 < document["*"]["outage_remaining_s"] <= 1
    r = requests.put(f"{url}/api/v1/customers/o", json={}, auth=AUTH)
    assert r.status_code == 503 and "outage" in r.json()["meta"]["error"]
    time.sleep(1.1)
    assert requests.put(f"{url}/api/v1/customers/o", json={}, auth=AUTH).status_code == 200


def test_bad_faults_document_is_400(sandbox):
    """An unknown endpoint or a bad ratio is refused with a message naming it."""
    r = _put_faults(sandbox.url, {"nope": {}})
    assert r.status_code == 400 and "unknown endpoint 'nope'" in r.json()["error"]
    r = _put_faults(sandbox.url, {"*": {"errors": {"503": 2}}})
    assert r.status_code == 400 and "ratio" in r.json()["error"]
    assert admin_call(sandbox.url, "faults") == {}


def test_faults_at_start(tmp_path):
    """--faults sets the document before the first request."""
    faults = json.dumps({"region": {"errors": {"500": 1.0}}})
    with running_sandbox(*UNLIMITED, "--faults", faults, log_dir=tmp_path) as sb:
        assert requests.get(f"{sb.url}/api/v1/accounts/region", auth=AUTH).status_code == 500
        assert admin_call(sb.url, "faults") == {"region": {"errors": {"500": 1.0}}}


def test_client_leaving_during_latency_is_still_counted(fresh_sandbox):
    """A request delayed by latency whose client times out is still processed and counted."""
    url = fresh_sandbox.url
    _put_faults(url, {"identify": {"latency": {"fixed_ms": 300}}})
    with pytest.raises(requests.Timeout):
        requests.put(f"{url}/api/v1/customers/gone", json={}, auth=AUTH, timeout=0.1)
    time.sleep(0.1)
    identify = sandbox_stats(url)["workspaces"]["demo"]["endpoints"]["identify"]
    assert identify["requests"] == identify["accepted"] == 1
