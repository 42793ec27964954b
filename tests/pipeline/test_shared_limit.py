"""Three sender processes share one workspace limit through Redis: never over it, and nearly all used."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.pipeline.conftest import Topics
from tests.pipeline.harness import (
    StatsSampler,
    max_per_second,
    send_calls,
    start_ingest,
    start_sender,
    v2_event_batches,
    wait_for_group,
    wait_for_seqs,
)
from tests.support.kafka import Broker
from tests.support.sandbox import running_sandbox

pytestmark = pytest.mark.slow

LIMIT = 100  # the sandbox's Track budget (reject mode: anything over it is a 429)
HEADROOM = 0.05  # share of the limit kept free: the senders budget 95 req/s
PER_BATCH = 10  # small batches so the backlog keeps the senders at the limit for a while
# How long the backlog saturates the limit; the issue says 20 s, scaled for the suite's time budget.
SATURATION_SECONDS = float(os.environ.get("PIPELINE_TEST_SATURATION_SECONDS", "6"))


def test_three_senders_share_the_workspace_limit(broker: Broker, topics: Topics, redis_url: str,
                                                 log_dir: Path) -> None:  # fmt: skip
    """No 429 and no one-second window above the budget; under saturation >= 90% of it is used."""
    count = int(LIMIT * (1 - HEADROOM) * PER_BATCH * SATURATION_SECONDS)
    sender_args = ("--rate-limit", str(LIMIT), "--headroom", str(HEADROOM),
                   "--max-batch-operations", str(PER_BATCH), "--concurrency", "4")  # fmt: skip
    with ExitStack() as stack:
        # The budget is LIMIT per second (checked below per one-second window); the GCRA burst of 20
        # absorbs scheduling jitter on a loaded 2-core machine, where a stalled process sends late.
        sandbox = stack.enter_context(running_sandbox("--rate-limit", f"track={LIMIT}+20", log_dir=log_dir))
        ingest = stack.enter_context(start_ingest(broker, topics, log_dir))
        senders = [stack.enter_context(start_sender(broker, topics, sandbox.url, redis_url, log_dir,
                                                    *sender_args, name=f"sender{i}")) for i in range(3)]  # fmt: skip
        wait_for_group(senders, partitions=6)
        with StatsSampler(sandbox.url) as sampler:
            calls = v2_event_batches(count)
            statuses = send_calls(ingest.url, calls, timeout=30)
            assert statuses[200] == len(calls), statuses
            events = wait_for_seqs(sandbox.url, set(range(count)), timeout=SATURATION_SECONDS * 3 + 10)
    assert {e["data"]["seq"] for e in events} == set(range(count))
    requests = sampler.series("requests")
    assert sampler.series("rate_limited")[-1][1] == 0, "the sandbox answered 429"
    peak = max_per_second(requests)
    assert peak <= LIMIT, f"{peak} requests in one second, budget {LIMIT}"
    total = requests[-1][1]
    start = next(t for t, c in requests if c >= total * 0.1)
    end = next(t for t, c in requests if c >= total * 0.9)
    used = total * 0.8 / (end - start) / LIMIT
    print(f"peak {peak}/s, used {used:.1%} of {LIMIT}/s, {total} requests")
    assert used >= 0.9, f"only {used:.0%} of the budget used under saturation"
