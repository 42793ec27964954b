"""Checks at start that the services a process depends on answer, before it serves anything.

Without them an unreachable broker or Redis left ingest answering 503 and the sender logging
hundreds of lines, forever. Each check waits at most the startup deadline, then raises
``ServiceUnavailable``: one line naming the service, where it was looked for, and the option.
"""

from __future__ import annotations

import asyncio

from pipeline.config import ConfigError

__all__ = ["ServiceUnavailable", "require_broker", "require_redis"]


class ServiceUnavailable(ConfigError):
    """A service this process needs did not answer within the startup deadline (exit code 2)."""


async def require_broker(bootstrap_servers: str, timeout: float) -> None:
    """The Kafka broker answers a metadata request within ``timeout`` seconds."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    def ask() -> None:
        # A fresh client: its log lines about a refused connection are silenced (the one line below
        # says it all); it asks for metadata only, creating and changing nothing.
        admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0,
                             "socket.connection.setup.timeout.ms": max(1000, int(timeout * 1000))})  # fmt: skip
        admin.list_topics(timeout=timeout)

    try:
        await asyncio.get_running_loop().run_in_executor(None, ask)
    except KafkaException as exc:
        raise ServiceUnavailable(
            f"the Kafka broker at {bootstrap_servers} did not answer within {timeout:g} s "
            f"({_reason(exc)}); start it or fix --bootstrap-servers"
        ) from None


async def require_redis(url: str, timeout: float) -> None:
    """Redis at ``url`` answers PING within ``timeout`` seconds."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        await asyncio.wait_for(client.ping(), timeout)
    except (RedisError, OSError, TimeoutError) as exc:
        raise ServiceUnavailable(
            f"Redis at {_without_password(url)} did not answer within {timeout:g} s "
            f"({type(exc).__name__}: {exc or 'no answer'}); start it or fix --redis-url"
        ) from None
    finally:
        await client.aclose()


def _reason(exc: Exception) -> str:
    error = exc.args[0] if exc.args else exc
    return str(error.str() if hasattr(error, "str") else error)


def _without_password(url: str) -> str:
    """Redis URLs may carry a password (redis://:secret@host): never print it."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
