"""Payloads: every one passes the contract's validation, and a seed reproduces them exactly."""

from __future__ import annotations

import functools
import itertools

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from ulid import ULID

from cio_contract import (
    CLIENT_BATCH_BYTES,
    validate_cdp_batch,
    validate_event,
    validate_identify,
    validate_transactional,
    validate_v1,
    validate_v2_batch,
)
from locustfiles.payloads import PayloadGenerator, PayloadPool
from locustfiles.users import _under_limit


@functools.lru_cache(maxsize=8)
def pool(seed: int) -> PayloadPool:
    return PayloadPool.build(seed, people=200, now=1_790_000_000)


def generator(seed: int, stream: str = "w0.0", **kwargs: float) -> PayloadGenerator:
    clock = itertools.count(1_790_000_000.0, 0.25).__next__
    return PayloadGenerator(pool(seed), stream, clock=clock, **kwargs)


seeds = st.integers(min_value=0, max_value=3)
streams = st.text(alphabet="abcdefw0123456789.", min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(seed=seeds, stream=streams, new_share=st.floats(0, 1), hot_share=st.floats(0, 1))
def test_every_payload_passes_contract_validation(seed, stream, new_share, hot_share):
    """Identify, events, anonymous, v2 batch, transactional and Pipelines bodies are all valid."""
    g = generator(seed, stream, new_share=new_share, hot_share=hot_share)
    for _ in range(5):
        person_id, body = g.identify()
        assert validate_identify(person_id, body) == []
        for kind in ("event", "page", "screen"):
            person_id, body = g.event(kind)
            assert validate_event(body) == [] and len(person_id.encode()) <= 150
        assert validate_event(g.anonymous_event(), anonymous=True) == []
        assert validate_transactional("email", g.transactional_email()) == []
    batch = g.v2_batch(30)
    result = validate_v2_batch(batch, len(orjson.dumps(batch)))
    assert result.request_error is None and result.errors == [] and result.accepted == 30
    cdp = g.cdp_batch(30)
    assert validate_cdp_batch(cdp, len(orjson.dumps(cdp))) == []


@settings(max_examples=20, deadline=None)
@given(seed=seeds, stream=streams)
def test_segment_form_metric_and_message_payloads_pass_validation(seed, stream):
    """Manual segments, forms, delivery metrics/unsubscribes and App messages are valid bodies."""
    g = generator(seed, stream)
    for _ in range(10):
        segment_id, body = g.segment_ids()
        assert validate_v1("add_to_segment", {"segment_id": segment_id}, body) == []
        form_id, body = g.form_submission()
        assert validate_v1("submit_form", {"form_id": form_id}, body) == []
        kind, delivery_id, body = g.delivery_metric()
        name = {"push": "push_metrics", "metric": "metrics", "unsubscribe": "unsubscribe"}[kind]
        assert validate_v1(name, {"delivery_id": delivery_id}, body) == []
        assert validate_transactional("in_app", g.message()) == []


@settings(max_examples=15, deadline=None)
@given(seed=seeds, stream=streams)
def test_same_seed_same_payloads(seed, stream):
    """Same seed and stream (and clock): byte-identical payloads, event ids included."""
    a, b = generator(seed, stream), generator(seed, stream)
    for _ in range(20):
        assert orjson.dumps(a.v2_operation()) == orjson.dumps(b.v2_operation())
        assert a.cdp_message() == b.cdp_message() and a.anonymous_event() == b.anonymous_event()


def test_pool_is_reproducible_and_different_seeds_differ():
    """Two pools built from one seed are equal; another seed gives other people."""
    assert PayloadPool.build(5, people=50) == PayloadPool.build(5, people=50)
    assert PayloadPool.build(5, people=50).people != PayloadPool.build(6, people=50).people


def test_event_ids_are_unique_ulids_across_users():
    """Ids from many users' streams in the same millisecond never collide and parse as ULIDs."""
    users = [generator(1, f"w{w}.{u}") for w in range(2) for u in range(50)]
    ids = [g.event_id() for g in users for _ in range(20)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 26 and ULID.from_str(i) for i in ids[:50])


@settings(max_examples=200, deadline=None)
@given(value=st.integers(min_value=0, max_value=2**128 - 1))
def test_ulid_text_matches_python_ulid(value):
    """The fast ULID encoder writes exactly what python-ulid writes for the same 128 bits."""
    g = generator(0)
    g.clock = lambda: ((value >> 80) + 0.5) / 1000
    g.rng = type("Fixed", (), {"getrandbits": staticmethod(lambda bits: value & (2**80 - 1))})()
    assert g.event_id() == str(ULID.from_bytes(value.to_bytes(16, "big")))


def test_pool_data_is_not_mutated_by_requests():
    """Payloads reuse pre-built event data; building requests leaves the pool unchanged."""
    fresh = PayloadPool.build(4, people=20)
    before = orjson.dumps([fresh.events, fresh.orders, fresh.page_views])
    g = PayloadGenerator(fresh, "w0.0")
    for _ in range(200):
        g.v2_batch(5), g.cdp_batch(5), g.transactional_email(), g.identify()
    assert orjson.dumps([fresh.events, fresh.orders, fresh.page_views]) == before


def test_new_versus_returning_and_hot_skew():
    """new_share of calls are new people; hot_share of the rest go to the hot 1%."""
    g = generator(2, new_share=0.2, hot_share=0.5, hot_fraction=0.05)
    people = [g.person() for _ in range(4000)]
    new = [p for p in people if p.id.startswith("new-")]
    hot_ids = {p.id for p in pool(2).people[: g.hot_count]}
    hot = [p for p in people if p.id in hot_ids]
    assert 0.17 < len(new) / len(people) < 0.23
    returning = len(people) - len(new)
    # Hot people also get their share of the uniform draws (5% of the other half).
    assert 0.47 < len(hot) / returning < 0.58
    assert len({p.id for p in new}) == len(new)


def test_big_batches_are_trimmed_under_the_client_limit():
    """A batch whose JSON would pass 475,000 bytes loses operations until it fits."""
    g = generator(3)
    body = g.v2_batch(1000)
    for op in body["batch"]:
        op["attributes"] = {**op["attributes"], "padding": "x" * 900}  # pool data is shared: copy
    data, _kept = _under_limit(body)
    trimmed = orjson.loads(data)
    assert len(data) < CLIENT_BATCH_BYTES and 100 < len(trimmed["batch"]) < 1000
    assert validate_v2_batch(trimmed, len(data)).errors == []


_DIGEST = """
import hashlib, itertools, orjson
from locustfiles.payloads import PayloadGenerator, PayloadPool
clock = itertools.count(1_790_000_000.0, 0.5).__next__
g = PayloadGenerator(PayloadPool.build(21, people=300), "w1.4", clock=clock)
items = [g.identify(), g.event("page"), g.v2_batch(5), g.cdp_batch(5), g.transactional_email()]
print(hashlib.sha256(orjson.dumps(items)).hexdigest())
"""


def test_same_seed_same_payloads_across_processes():
    """Two interpreters with different hash seeds generate byte-identical payloads from one seed."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    digests = {
        subprocess.run(
            [sys.executable, "-c", _DIGEST],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout  # fmt: skip
        for seed in ("1", "2")
    }
    assert len(digests) == 1 and len(digests.pop().strip()) == 64
