"""A worker is ready for the master's spawn message soon after it connects, even on a loaded machine.

Under load, workers of a master + workers run started their users ~10 s late, or after the master had
ended the run with 0 requests counted (exit 0), though the target got their traffic. The cause: right
after connecting, each worker's init imported ``analysis`` (pandas: seconds of CPU with the gevent
loop held, so no heartbeat, no report, no spawn message handled), and its test_start built a second
payload pool beside the one still building from init. And a master that counted nothing now fails.
"""

from __future__ import annotations

from locust.env import Environment

import subprocess
import sys
import textwrap
from pathlib import Path

from locustfiles import context, empty_run
from locustfiles.payloads import PayloadPool
from locustfiles.users import IdentifyUser
from plumbing.ports import free_port
from tests.locustfiles.conftest import parse_options

REPO = Path(__file__).resolve().parents[2]


def test_a_workers_init_imports_no_analysis() -> None:
    """The suite's init listeners on a worker, in a fresh interpreter: neither analysis nor pandas."""
    script = textwrap.dedent(
        """
        import sys
        from locust.env import Environment
        from locust.runners import WorkerRunner
        import locustfiles.locustfile  # every plugin of the suite
        from locustfiles.gate import plugin as gate
        from types import SimpleNamespace

        environment = Environment(parsed_options=SimpleNamespace(slo="profiles/demo.slo.yaml"))
        environment.runner = object.__new__(WorkerRunner)  # the type is what the plugins look at
        assert gate.register(environment) is None
        heavy = sorted(m for m in ("analysis", "pandas") if m in sys.modules)
        assert not heavy, heavy
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_test_start_waits_for_the_pool_init_is_building(monkeypatch) -> None:
    """The prebuild at init and test_start's build of the same options make one pool, not two."""
    builds: list[tuple[int, int]] = []
    real_build = PayloadPool.build

    def counted(seed: int, people: int) -> PayloadPool:
        builds.append((seed, people))
        return real_build(seed, people)

    monkeypatch.setattr(PayloadPool, "build", staticmethod(counted))
    environment = Environment(user_classes=[IdentifyUser], parsed_options=parse_options("--people", "300"),
                              host="http://127.0.0.1:8080")  # fmt: skip
    import gevent

    prebuild = gevent.spawn(context.build_context, environment)  # init's, still running...
    gevent.sleep(0)
    first = context.build_context(environment)  # ...when the spawn message's test_start comes
    assert prebuild.get(timeout=60).pool is first.pool
    assert builds == [(0, 300)]
    environment.parsed_options.people = 400  # other options: a new pool
    assert len(context.build_context(environment).pool.people) == 400 and builds[-1] == (0, 400)


def test_a_master_that_counted_no_request_fails() -> None:
    """A real master whose run started and counted nothing ends with exit code 1 and one error line."""
    environment = Environment(user_classes=[IdentifyUser], parsed_options=parse_options(),
                              host="http://127.0.0.1:8080")  # fmt: skip
    runner = environment.create_master_runner("127.0.0.1", free_port())
    try:
        empty_run.install(environment)
        environment.events.quitting.fire(environment=environment)
        assert environment.process_exit_code is None  # no run started: nothing to judge
        environment.events.test_start.fire(environment=environment)
        environment.events.quitting.fire(environment=environment)
        assert environment.process_exit_code == empty_run.EMPTY_RUN_EXIT_CODE == 1
        environment.process_exit_code = None
        runner.stats.log_request("PUT", "/api/v1/customers/[id]", 3, 0)
        environment.events.quitting.fire(environment=environment)
        assert environment.process_exit_code is None
    finally:
        runner.quit()
