"""Configuration: YAML workspaces with their own keys and limits, CLI errors, store modes, gen-cert."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import pytest
import requests

from tests.support.sandbox import admin_call, running_sandbox, sandbox_stats


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args], capture_output=True, text=True, timeout=30, env=env
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--rate-limit", "track=abc"], "REQUESTS, SECONDS and BURST must be numbers"),
        (["--rate-limit", "email=5"], "API one of track, app, cdp"),
        (["--workspace", "only-site"], "expected SITE_ID:TRACK_API_KEY"),
        (["--config", "/nonexistent/sandbox.yaml"], "cannot read it"),
        (["--tls-cert", "/tmp/x.pem"], "--tls-cert and --tls-key go together"),
        (["--faults", '{"nope": {}}'], "unknown endpoint 'nope'"),
        (["--faults", "{bad"], "--faults: not valid JSON"),
        (["--processes", "0"], "--processes must be at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, fragment):
    """Bad options end with one readable line on stderr, no traceback, exit code 2."""
    result = _run(*args)
    assert result.returncode == 2
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_yaml_workspace_is_named(tmp_path):
    """A config file error names the key at fault."""
    config = tmp_path / "sandbox.yaml"
    config.write_text(
        "workspaces:\n  - site_id: a\n    rate_limits: {track: {requests: 5, colour: red}}\n    track_api_key: k\n"
    )
    result = _run("--config", str(config))
    assert (
        result.returncode == 2 and "workspaces[0].rate_limits.track: unknown keys ['colour']" in result.stderr
    )


def test_yaml_workspaces_have_their_own_keys_and_limits(tmp_path, monkeypatch):
    """Two workspaces from YAML: each key opens only its own workspace, each has its own limits."""
    monkeypatch.setenv("SHOP_B_TRACK_KEY", "b-secret")
    config = tmp_path / "sandbox.yaml"
    config.write_text(
        textwrap.dedent("""
        rate_mode: reject
        rate_limits: {app: {requests: 20}}
        workspaces:
          - {site_id: shop-a, name: store-a, track_api_key: a-track, app_api_key: a-app, cdp_write_key: a-cdp,
             rate_limits: {track: {requests: 5, per_seconds: 1, burst: 0}}}
          - {site_id: shop-b, name: store-b, track_api_key_env: SHOP_B_TRACK_KEY, app_api_key: b-app, rate_mode: drop}
        """)
    )
    with running_sandbox("--config", str(config), log_dir=tmp_path) as sb:
        assert sb.info["workspaces"] == 2
        assert "shop-a" not in sb.log_text() and "shop-a" not in (tmp_path / "sandbox.ready.json").read_text()
        assert set(sandbox_stats(sb.url)["workspaces"]) >= {"store-a", "store-b"}  # names, not site ids
        assert (
            requests.put(f"{sb.url}/api/v1/customers/u", json={}, auth=("shop-a", "b-secret")).status_code
            == 401
        )
        a = [
            requests.put(f"{sb.url}/api/v1/customers/u", json={}, auth=("shop-a", "a-track")).status_code
            for _ in range(10)
        ]
        b = [
            requests.put(f"{sb.url}/api/v1/customers/u", json={}, auth=("shop-b", "b-secret")).status_code
            for _ in range(10)
        ]
        app = requests.post(f"{sb.url}/v1/send/sms", json={"transactional_message_id": 1, "identifiers": {"id": "u"}},
                            headers={"Authorization": "Bearer b-app"})  # fmt: skip
        stats = sandbox_stats(sb.url)["workspaces"]
    assert 429 in a and a.count(200) <= 2
    assert b == [200] * 10
    assert app.status_code == 200
    assert stats["store-a"]["rate_limits"]["track"] == {
        "requests": 5, "per_seconds": 1.0, "burst": 0, "per_second": 5.0, "mode": "reject",
        "retry_after": 0.0, "block_seconds": 10.0,
    }  # fmt: skip
    assert stats["store-b"]["rate_limits"]["track"]["mode"] == "drop"
    assert stats["store-a"]["rate_limits"]["app"]["requests"] == 20
    assert stats["store-a"]["totals"]["unauthorized"] == 1


def test_workspace_option_and_env(tmp_path, monkeypatch):
    """--workspace and $SANDBOX_WORKSPACES add workspaces; the demo workspace is then not served."""
    monkeypatch.setenv("SANDBOX_WORKSPACES", "env-site:env-key")
    with running_sandbox("--workspace", "cli-site:cli-key:cli-app:cli-cdp", log_dir=tmp_path) as sb:
        assert sb.info["workspaces"] == 2
        assert "env-site" not in sb.log_text()
        # Unnamed workspaces appear under a short hash of their site id, never the site id itself.
        labels = {"ws-" + hashlib.sha256(site.encode()).hexdigest()[:8] for site in ("env-site", "cli-site")}
        assert set(sandbox_stats(sb.url)["workspaces"]) - {"_unknown"} == labels
        assert (
            requests.put(f"{sb.url}/api/v1/customers/u", json={}, auth=("env-site", "env-key")).status_code
            == 200
        )
        assert (
            requests.post(f"{sb.url}/v1/batch", json={"batch": []}, auth=("cli-cdp", "")).status_code == 200
        )
        assert (
            requests.put(
                f"{sb.url}/api/v1/customers/u", json={}, auth=("demo-site", "demo-track-key")
            ).status_code
            == 401
        )


def test_count_store_mode_keeps_no_events(tmp_path):
    """--store count counts and detects duplicates but keeps no people or events."""
    with running_sandbox("--store", "count", log_dir=tmp_path) as sb:
        with requests.Session() as s:
            s.auth = ("demo-site", "demo-track-key")
            s.put(f"{sb.url}/api/v1/customers/u", json={"a": 1})
            for _ in range(2):
                s.post(f"{sb.url}/api/v1/customers/u/events", json={"name": "e", "id": "01COUNT"})
        assert admin_call(sb.url, "events")["count"] == 0 and admin_call(sb.url, "people")["count"] == 0
        stats = sandbox_stats(sb.url)
        assert (
            stats["store_mode"] == "count"
            and stats["totals"]["accepted"] == 3
            and stats["totals"]["duplicates"] == 1
        )


def test_demo_credentials_printed_at_start(tmp_path):
    """With no configuration the demo workspace's credentials are printed."""
    with running_sandbox(log_dir=tmp_path) as sb:
        log = sb.log_text()
    assert "demo workspace: site id demo-site, Track API key demo-track-key, App API key demo-app-key" in log


def test_gen_cert(tmp_path):
    """python -m sandbox gen-cert DIR writes a certificate and key."""
    result = _run("gen-cert", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cert.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert (tmp_path / "key.pem").stat().st_mode & 0o077 == 0


def test_loopback_detection_for_the_admin_api():
    """The peer check behind the admin API's loopback-only rule: 127/8 and ::1 are local, others not."""
    from sandbox.protocol import _is_loopback

    assert _is_loopback(("127.0.0.1", 5)) and _is_loopback(("::1", 5, 0, 0))
    assert not _is_loopback(("10.1.2.3", 5))
