"""Exposure: the admin API needs a token for non-loopback clients, and never shows a raw site id."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any

import orjson
import pytest
import requests

from sandbox.admin import Admin
from sandbox.app import Sandbox
from sandbox.cli import build_config, parse
from sandbox.server import build_shared
from tests.support.sandbox import running_sandbox

TOKEN = "t0ken-for-the-admin-api-0123456789"
SECRET_SITES = ("site-secret-aa11", "site-secret-bb22")


def _app(*argv: str) -> Sandbox:
    """The real sandbox application in this process, so a request can come from a non-loopback peer."""
    config = build_config(*parse(list(argv), environ={}))
    shared, accounting, limiter = build_shared(config)
    accounting.attach(shared, 0)
    app = Sandbox(config, shared, accounting, limiter, 0)
    Admin(app)
    return app


def _ask(app: Sandbox, path: str, auth: bytes | None = None, loopback: bool = False) -> tuple[int, Any]:
    reply = app.admin.handle("GET", path, b"", loopback, auth)
    assert isinstance(reply, bytes)
    head, _, body = reply.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, (orjson.loads(body) if body.startswith(b"{") else body.decode())


def test_without_a_token_only_loopback_clients_reach_the_admin_api() -> None:
    app = _app()
    for path in ("/__sandbox/stats", "/__sandbox/faults", "/metrics"):
        status, body = _ask(app, path)
        assert status == 403 and "SANDBOX_ADMIN_TOKEN" in body["error"], path
        assert _ask(app, path, loopback=True)[0] == 200
    assert _ask(app, "/__sandbox/health")[0] == 200  # probes come from the node, never with a token


def test_with_a_token_non_loopback_clients_must_send_it() -> None:
    app = _app("--admin-token", TOKEN)
    assert _ask(app, "/__sandbox/stats")[0] == 401
    assert _ask(app, "/__sandbox/stats", b"Bearer wrong-token-of-the-same-size-xx")[0] == 401
    assert _ask(app, "/__sandbox/stats", b"Basic " + TOKEN.encode())[0] == 401
    assert _ask(app, "/__sandbox/stats", b"Bearer " + TOKEN.encode())[0] == 200
    assert _ask(app, "/metrics", b"Bearer " + TOKEN.encode())[0] == 200
    assert TOKEN not in repr(app.config)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--admin-open"], {}, "was replaced by a token"),
        ([], {"SANDBOX_ADMIN_OPEN": "1"}, "was replaced by a token"),
        (["--admin-token", "short"], {}, "--admin-token must be at least 16 characters"),
    ],
)
def test_bad_admin_options_are_one_line_and_exit_2(
    argv: list[str], env: dict[str, str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sandbox", "--port", "0", *argv],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin", **env},
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "short" not in lines[0]  # the value of a secret option is not echoed


def test_admin_output_and_metric_labels_never_show_a_site_id(tmp_path: Any) -> None:
    config = tmp_path / "sandbox.yaml"
    config.write_text(f"workspaces:\n  - {{site_id: {SECRET_SITES[0]}, name: shop, track_api_key: k-a}}\n")
    with running_sandbox(
        "--config", str(config), "--workspace", f"{SECRET_SITES[1]}:k-b", log_dir=tmp_path
    ) as sb:
        for site, key in zip(SECRET_SITES, ("k-a", "k-b"), strict=True):
            for i in range(3):
                event = {"name": "seen", "id": f"01EVENT{i}"}
                requests.post(
                    f"{sb.url}/api/v1/customers/p{i}/events", json=event, auth=(site, key), timeout=10
                )
                requests.post(
                    f"{sb.url}/api/v1/customers/p{i}/events", json=event, auth=(site, key), timeout=10
                )
            requests.put(f"{sb.url}/api/v1/customers/u", json={}, auth=(site, "wrong"), timeout=10)
        bodies = {
            path: urllib.request.urlopen(f"{sb.url}{path}", timeout=10).read().decode()  # noqa: S310 - loopback
            for path in ("/__sandbox/stats", "/__sandbox/config", "/__sandbox/limits", "/__sandbox/events",
                         "/__sandbox/people", "/__sandbox/duplicates", "/metrics")
        }  # fmt: skip
    for path, body in bodies.items():
        for site in SECRET_SITES:
            assert site not in body, f"{path} shows a site id"
    stats = json.loads(bodies["/__sandbox/stats"])["workspaces"]
    assert {"shop", "_unknown"} < set(stats) and len(stats) == 3
    assert stats["shop"]["totals"]["duplicates"] == 3
    assert 'workspace="shop"' in bodies["/metrics"]
