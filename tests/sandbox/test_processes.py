"""--processes N: one port, exact counters and exact rate limits across processes, merged views."""

from __future__ import annotations

import base64
import http.client
import threading
import time

import pytest
import requests

from tests.support.sandbox import admin_call, running_sandbox, sandbox_stats

AUTH = "Basic " + base64.b64encode(b"demo-site:demo-track-key").decode()


def _hammer(url: str, per_thread: int, threads: int, seconds: float) -> int:
    """Send identify calls on ``threads`` keep-alive connections; returns how many got an answer."""
    host, port = url.rsplit("/", 1)[1].split(":")
    sent = [0] * threads
    deadline = time.monotonic() + seconds

    def worker(i: int) -> None:
        for n in range(per_thread):
            if time.monotonic() > deadline:
                break
            # A new connection every 20 requests spreads them over the processes (SO_REUSEPORT hashes per connection).
            if n % 20 == 0:
                connection = http.client.HTTPConnection(host, int(port), timeout=10)
            connection.request(
                "PUT", f"/api/v1/customers/mp-{i}-{n}", body=b"{}", headers={"Authorization": AUTH}
            )
            connection.getresponse().read()
            sent[i] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(seconds + 30)
    return sum(sent)


def test_two_processes_share_a_port_with_exact_counters(tmp_path):
    """Two processes answer on one port; stats add up exactly and people from both are listed."""
    with running_sandbox("--processes", "2", "--rate-limit", "track=1000000", log_dir=tmp_path) as sb:
        assert sb.info["processes"] == 2
        sent = _hammer(sb.url, 400, 4, 10.0)
        stats = sandbox_stats(sb.url)
        assert stats["processes"] == 2
        assert stats["totals"]["requests"] == sent == stats["totals"]["accepted"]
        people = admin_call(sb.url, "people?limit=0")
        assert people["count"] == sent
        # Fresh connections land on both processes (kernel hash over the client port).
        pids = {requests.get(f"{sb.url}/__sandbox/process").json()["pid"] for _ in range(30)}
        assert len(pids) == 2


@pytest.mark.slow
def test_rate_limit_is_exact_across_processes(tmp_path):
    """With 2 processes a 200/s limit still admits 200/s in total (plus the burst), not 400/s."""
    with running_sandbox("--processes", "2", "--rate-limit", "track=200+0", log_dir=tmp_path) as sb:
        start = time.monotonic()
        sent = _hammer(sb.url, 100_000, 4, 2.0)
        elapsed = time.monotonic() - start
        stats = sandbox_stats(sb.url)["workspaces"]["demo"]["apis"]["track"]
        assert stats["requests"] == sent
        assert sent > 2 * 200 * elapsed  # well over the limit
        assert stats["accepted"] <= 200 * elapsed + 1
        # Generous: on a loaded 2-core machine the clients themselves stall for whole windows.
        assert stats["accepted"] >= 0.5 * 200 * elapsed


def test_reset_reaches_every_process(tmp_path):
    """A reset on one process clears the stores of all of them."""
    with running_sandbox("--processes", "2", "--rate-limit", "track=1000000", log_dir=tmp_path) as sb:
        _hammer(sb.url, 40, 2, 5.0)
        assert admin_call(sb.url, "people?limit=0")["count"] == 80
        admin_call(sb.url, "reset", "POST", {})
        assert sandbox_stats(sb.url)["totals"]["requests"] == 0
        assert admin_call(sb.url, "people")["count"] == 0


def test_duplicates_are_exact_across_processes(tmp_path):
    """One event id sent on 20 fresh connections (spread over 2 processes) is stored once, 19 repeats."""
    with running_sandbox("--processes", "2", "--rate-limit", "track=1000000", log_dir=tmp_path) as sb:
        for _ in range(20):
            r = requests.post(f"{sb.url}/api/v1/customers/d/events", json={"name": "e", "id": "01SAME"},
                              auth=("demo-site", "demo-track-key"), headers={"Connection": "close"})  # fmt: skip
            assert r.status_code == 200
        assert admin_call(sb.url, "events?person=d")["count"] == 1
        assert admin_call(sb.url, "duplicates") == {
            "duplicates": [{"workspace": "demo", "id": "01SAME", "count": 20}], "total": 19
        }  # fmt: skip
        assert sandbox_stats(sb.url)["totals"]["duplicates"] == 19


def test_limits_change_at_run_time_in_every_process(tmp_path):
    """PUT /__sandbox/limits switches a workspace to drop at 5/s in both processes; bad input is 400."""
    with running_sandbox("--processes", "2", log_dir=tmp_path) as sb:
        changed = admin_call(
            sb.url, "limits", "PUT", {"demo": {"track": {"requests": 5, "burst": 0, "mode": "drop"}}}
        )
        assert changed["demo"]["track"]["mode"] == "drop" and changed["demo"]["app"]["requests"] == 10
        statuses = []
        for _ in range(30):
            r = requests.put(f"{sb.url}/api/v1/customers/x", json={}, auth=("demo-site", "demo-track-key"),
                             headers={"Connection": "close"})  # fmt: skip
            statuses.append(r.status_code)
        track = sandbox_stats(sb.url)["workspaces"]["demo"]["apis"]["track"]
        assert (
            statuses == [200] * 30 and track["dropped"] >= 20 and track["accepted"] + track["dropped"] == 30
        )
        assert (
            'sandbox_rate_limit_per_second{api="track",workspace="demo"} 5.0'
            in requests.get(f"{sb.url}/metrics").text
        )
        r = requests.put(f"{sb.url}/__sandbox/limits", json={"nope": {"track": {"requests": 1}}})
        assert r.status_code == 400 and "unknown workspace 'nope'" in r.json()["error"]
        r = requests.put(f"{sb.url}/__sandbox/limits", json={"*": {"track": {"mode": "sideways"}}})
        assert r.status_code == 400 and "mode 'sideways'" in r.json()["error"]
