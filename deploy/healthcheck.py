"""Container health probe: ``python -m deploy.healthcheck URL | --tcp HOST:PORT | --file PATH``.

Slim images have no curl, and a Locust worker listens on no port at all, so compose healthchecks and
Kubernetes exec probes call this instead. A URL is healthy when it answers 2xx within the timeout; a
file is healthy when it was touched within ``--max-age`` seconds (the worker plugin
``locustfiles.master_watch`` touches its heartbeat file each time the master's heartbeat arrives).
Prints one line and exits 0 (healthy) or 1 (unhealthy); bad usage exits 2.
"""

from __future__ import annotations

import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from plumbing.errors import OptionError
from plumbing.options import Options, Parser, check_host_ports, declarer, report

__all__ = ["OPTIONS", "check_file", "check_tcp", "check_url", "main"]


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


def _one_host_port(value: str) -> str | None:
    if "," in value:
        return f"{value!r}: one HOST:PORT, e.g. 127.0.0.1:5557"
    return check_host_ports(value)


_o = declarer("HEALTHCHECK_", ("healthcheck",))
_SECONDS: dict[str, Any] = {"type": float, "low": 0, "low_open": True, "metavar": "S"}

OPTIONS = Options(
    "healthcheck",
    (
        _o(
            "--tcp",
            None,
            "address that must accept a TCP connection",
            metavar="HOST:PORT",
            check=_one_host_port,
        ),  # fmt: skip
        _o("--file", None, "heartbeat file that must be fresh", type=Path, metavar="PATH"),
        _o("--max-age", 10.0, "seconds the --file may be old", **_SECONDS),
        _o("--timeout", 3.0, "seconds to wait for the URL or --tcp", **_SECONDS),
    ),
)


def parser() -> Parser:
    p = Parser(prog="python -m deploy.healthcheck", description=__doc__.splitlines()[0])
    p.add_argument("url", nargs="?", help="http URL that must answer 2xx")
    OPTIONS.add_to(p, group=False)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser_ = parser()
    args = parser_.parse_checked(argv)
    try:
        vars(args).update(OPTIONS.values(args))
    except OptionError as exc:
        return report("healthcheck", exc)
    if [args.url, args.tcp, args.file].count(None) != 2:
        parser_.error("give exactly one of URL, --tcp HOST:PORT or --file PATH")
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
