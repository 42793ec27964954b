"""Start the real sandbox for a test (port 0) and read its counters.

``running_sandbox("--rate-limit", "track=50")`` yields a ``ManagedProcess`` whose ``.url`` is the
sandbox's base URL and ``.info["admin"]`` its admin base; it is stopped on exit, also on failure.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runs.processes import ManagedProcess, start_service

__all__ = ["DEMO", "admin_call", "running_sandbox", "sandbox_stats"]

DEMO = {
    "site_id": "demo-site",
    "track_api_key": "demo-track-key",
    "app_api_key": "demo-app-key",
    "cdp_write_key": "demo-cdp-key",
}


@contextmanager
def running_sandbox(*extra_args: str, log_dir: Path | None = None) -> Iterator[ManagedProcess]:
    """A sandbox process on a free loopback port with ``extra_args`` (e.g. ``"--rate-mode", "drop"``)."""
    process = start_service("sandbox", ["sandbox", "--port", "0", *extra_args], log_dir=log_dir)
    try:
        yield process
    finally:
        process.stop()


def admin_call(
    url: str, path: str, method: str = "GET", body: Any = None, timeout: float = 10.0, token: str = ""
) -> Any:
    """Call the admin API at ``url`` (the sandbox base URL) and return the decoded JSON (``token``: the
    admin token, which a sandbox asks of clients that are not on its loopback)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url.rstrip('/')}/__sandbox/{path.lstrip('/')}", data=data, method=method
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


def sandbox_stats(url: str, token: str = "") -> dict[str, Any]:
    """``GET /__sandbox/stats`` of the sandbox at ``url`` (shape documented in ``sandbox.accounting``)."""
    return admin_call(url, "stats", token=token)
