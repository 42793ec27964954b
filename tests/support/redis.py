"""A real ``redis-server`` (no persistence) on a free loopback port, for a test.

Started by :func:`runs.services.start_redis`, the same starter ``python -m runs pipeline`` uses.
``running_redis()`` yields the ``redis://127.0.0.1:PORT/0`` URL and stops the server on exit.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runs.services import start_redis

__all__ = ["running_redis"]


@contextmanager
def running_redis(log_dir: Path | None = None) -> Iterator[str]:
    """A redis-server on loopback with persistence off; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="redis-") as scratch:
        with start_redis(Path(log_dir or scratch)) as process:
            yield str(process.info["redis_url"])
