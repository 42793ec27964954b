"""What one client can make the server hold: header sizes, time per phase of a request, connections.

Each bound is declared once here (type, default, help); ``options`` makes them options (flag,
environment variable, config-file key) of each server process that uses this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from plumbing.options import Option, Options

__all__ = ["ServerLimits", "from_values", "options"]


def _bound(default: float | int, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class ServerLimits:
    """Bounds every connection is held to; the defaults suit SDKs, Locust and healthchecks alike.

    Over a header bound the answer is 431 (414 for the request target) and the connection closes;
    the rest of the request is never buffered.
    """

    max_header_count: int = _bound(100, "header fields in one request (431 past it)")
    max_header_line: int = _bound(8 * 1024, "bytes of one header field, name plus value (431 past it)")
    max_header_bytes: int = _bound(32 * 1024, "bytes of all header fields of one request (431 past it)")
    max_request_line: int = _bound(8 * 1024, "bytes of the request target, path and query (414 past it)")
    header_timeout: float = _bound(
        10.0,
        "seconds from a request's first byte (or the connection's start) to the end of its headers (then 408)",
    )
    body_timeout: float = _bound(
        30.0, "seconds from the end of the headers to the end of the body (then 408)"
    )
    idle_timeout: float = _bound(
        75.0,
        "seconds a keep-alive connection may sit with no request, or not reading its replies, before it is closed",
    )
    max_connections: int = _bound(
        10_000, "open connections per server process; past it a new one gets 503 and is closed"
    )
    require_host: bool = True
    """HTTP/1.1 requests without ``Host`` get 400 (RFC 9112, section 3.2)."""

    def problems(self) -> list[str]:
        """``name: why`` for each bound out of range (all must be positive)."""
        return [
            f"{f.name}: must be > 0, got {getattr(self, f.name)!r}"
            for f in fields(self)
            if "help" in f.metadata and not getattr(self, f.name) > 0
        ]

    @property
    def max_head_bytes(self) -> int:
        """Bytes a request's head may take on the wire before it is refused unparsed: the target, the
        header fields and their separators. Guards the case no field ever ends (one endless line)."""
        return self.max_request_line + self.max_header_bytes + 4 * self.max_header_count + 64


def config_keys() -> tuple[str, ...]:
    """The config-file keys ``from_arguments`` reads (the option names with underscores)."""
    return tuple(f.name for f in fields(ServerLimits) if "help" in f.metadata)


def options(env_prefix: str, process: str) -> Options:
    """The bounds as declared options of ``process``: ``--header-timeout`` / ``{env_prefix}_HEADER_TIMEOUT``,
    and so on; config-file keys of the same names (with underscores) come with them."""
    defaults = ServerLimits()
    return Options(
        "connection bounds (per server process)",
        tuple(
            Option(
                "--" + f.name.replace("_", "-"),
                getattr(defaults, f.name),
                f.metadata["help"],
                type=int if f.type == "int" else float,
                env=f"{env_prefix}_{f.name.upper()}",
                processes=(process,),
                low=0,
                low_open=True,
            )  # fmt: skip
            for f in fields(ServerLimits)
            if "help" in f.metadata
        ),
    )


def from_values(values: Mapping[str, Any]) -> ServerLimits:
    """The bounds from checked option values (``Options.values``); keys not given keep their default."""
    return replace(
        ServerLimits(), **{f.name: values[f.name] for f in fields(ServerLimits) if f.name in values}
    )
