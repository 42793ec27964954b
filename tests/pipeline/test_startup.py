"""Ingest and sender refuse to start when the broker or Redis does not answer: one line, exit 2.

Nothing listens on the ports used (fresh free ports), so each check waits out its deadline
(``--startup-timeout 2``) once; the processes run side by side.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from plumbing.ports import free_port

pytestmark = pytest.mark.slow


def test_services_that_do_not_answer_stop_ingest_and_sender_at_start(redis_url: str) -> None:
    dead_broker, dead_redis = f"127.0.0.1:{free_port()}", f"redis://:secret@127.0.0.1:{free_port()}/0"
    commands = {
        "ingest": ["ingest", "--bootstrap-servers", dead_broker, "--port", "0", "--startup-timeout", "2"],
        "sender (Redis)": ["sender", "--bootstrap-servers", dead_broker, "--redis-url", dead_redis,
                           "--target", "http://127.0.0.1:9", "--metrics-port", "0", "--startup-timeout", "2"],
        "sender (broker)": ["sender", "--bootstrap-servers", dead_broker, "--redis-url", redis_url,
                            "--target", "http://127.0.0.1:9", "--metrics-port", "0", "--startup-timeout", "2"],
    }  # fmt: skip
    started = time.monotonic()
    procs = {name: subprocess.Popen([sys.executable, "-m", "pipeline", *argv], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for name, argv in commands.items()}  # fmt: skip
    results = {name: (p.wait(timeout=120), p.communicate()) for name, p in procs.items()}
    assert time.monotonic() - started < 60  # the deadline (plus start-up), not forever
    for name, (code, (out, err)) in results.items():
        assert code == 2, (name, code, out, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (name, err)
    assert "the Kafka broker at " + dead_broker in results["ingest"][1][1]
    assert "--bootstrap-servers" in results["ingest"][1][1]
    redis_line = results["sender (Redis)"][1][1]
    assert "--redis-url" in redis_line and "secret" not in redis_line
    assert "--bootstrap-servers" in results["sender (broker)"][1][1]
