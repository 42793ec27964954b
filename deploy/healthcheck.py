"""Container health probe: ``python -m deploy.healthcheck URL | --tcp HOST:PORT | --file PATH``.

Slim images have no curl, and a Locust worker listens on no port at all, so compose healthchecks and
Kubernetes exec probes call this instead. A URL is healthy when it answers 2xx within the timeout; a
file is healthy when it was touched within ``--max-age`` seconds (the worker plugin
``locustfiles.master_watch`` touches its heartbeat file each time the master's heartbeat arrives).
Prints one line and exits 0 (healthy) or 1 (unhealthy); bad usage exits 2.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

__all__ = ["check_file", "check_tcp", "check_url", "main"]


def check_url(url: str, timeout: float) -> str | None:
    """None when ``url`` answers 2xx, else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - probe targets are ours
            status = response.status
    except urllib.error.HTTPError as error:
        return f"{url} answered {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return f"{url} unreachable: {getattr(error, 'reason', error)}"
    return None if 200 <= status < 300 else f"{url} answered {status}"


def check_tcp(address: str, timeout: float) -> str | None:
    """None when ``HOST:PORT`` accepts a TCP connection, else what went wrong."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return f"--tcp wants HOST:PORT, got {address!r}"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return None
    except OSError as error:
        return f"{address} refused or unreachable: {error}"


def check_file(path: Path, max_age: float) -> str | None:
    """None when ``path`` was modified within ``max_age`` seconds, else what went wrong."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return f"{path} does not exist yet (no heartbeat from the master so far)"
    return None if age <= max_age else f"{path} is {age:.0f} s old (limit {max_age:g} s): master silent"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deploy.healthcheck", description=__doc__.splitlines()[0])
    p.add_argument("url", nargs="?", help="http URL that must answer 2xx")
    p.add_argument("--tcp", metavar="HOST:PORT", help="address that must accept a TCP connection")
    p.add_argument("--file", type=Path, help="heartbeat file that must be fresh")
    p.add_argument("--max-age", type=float, default=10.0, help="seconds (with --file; default: %(default)s)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds (URL or --tcp; default: %(default)s)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser_ = parser()
    args = parser_.parse_args(argv)
    if [args.url, args.tcp, args.file].count(None) != 2:
        parser_.exit(2, "healthcheck: give exactly one of URL, --tcp HOST:PORT or --file PATH\n")
    if args.url:
        problem = check_url(args.url, args.timeout)
    elif args.tcp:
        problem = check_tcp(args.tcp, args.timeout)
    else:
        problem = check_file(args.file, args.max_age)
    print(f"unhealthy: {problem}" if problem else "healthy")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
