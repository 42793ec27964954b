"""Ingest -> Tansu -> sender -> sandbox with every part real: nothing lost, bad events dead-lettered."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, Producer

from pipeline.envelope import Envelope
from tests.pipeline.conftest import Topics
from tests.pipeline.harness import (
    AUTH,
    assert_all_arrived_once_per_id,
    event,
    scrape,
    send_calls,
    start_ingest,
    start_sender,
    wait_for_seqs,
)
from tests.support.kafka import Broker
from tests.support.sandbox import running_sandbox

pytestmark = pytest.mark.slow


def _call(url: str, method: str, path: str, body: object, auth: str = AUTH) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method, headers={"Authorization": auth})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310 - loopback
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _read_topic(broker: Broker, topic: str, count: int) -> list[bytes]:
    """Up to ``count`` message values of ``topic`` from the beginning (at most about 20 s)."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"{topic}-reader",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})  # fmt: skip
    consumer.subscribe([topic])
    out: list[bytes] = []
    try:
        for _ in range(40):
            out += [m.value() or b"" for m in consumer.consume(100, 0.5) if not m.error()]
            if len(out) >= count:
                break
    finally:
        consumer.close()
    return out


def test_ingest_speaks_the_track_api(broker: Broker, topics: Topics, log_dir: Path) -> None:
    """Same paths, Basic auth, 400/207 bodies as Customer.io; ids assigned; /metrics counts."""
    with start_ingest(broker, topics, log_dir) as ingest:
        url = ingest.url
        bad_auth = "Basic " + base64.b64encode(b"demo-site:wrong").decode()
        assert _call(url, "PUT", "/api/v1/customers/u1", {"plan": "x"}, bad_auth) == (
            401, {"meta": {"error": "Unauthorized request"}})  # fmt: skip
        assert _call(url, "PUT", "/api/v1/customers/u1", {"plan": "x"}) == (200, {})
        assert _call(url, "POST", "/api/v1/customers/u1/events", {"name": " "}) == (
            400, {"meta": {"errors": ["event name must not be blank"]}})  # fmt: skip
        status, body = _call(url, "POST", "/api/v2/batch", {"batch": [
            {"type": "person", "action": "event", "identifiers": {"id": "u"}, "name": "ok"},
            {"type": "person", "action": "nope", "identifiers": {"id": "u"}}]})  # fmt: skip
        assert status == 207 and body["errors"][0]["batch_index"] == 1
        assert _call(url, "POST", "/api/v2/batch", b"{not json")[0] == 400
        assert _call(url, "POST", "/v1/track", {})[0] == 404
        metrics = scrape(url)
    assert metrics["pipeline_ingest_events_total{outcome=accepted}"] == 2
    assert metrics["pipeline_ingest_events_total{outcome=invalid}"] == 3
    assert metrics["pipeline_ingest_events_total{outcome=unauthorized}"] == 1
    kept = [e for v in _read_topic(broker, topics.events, 2) for e in Envelope.decode(v).split()]
    track = next(e for e in kept if e.endpoint == "v2_op")
    assert track.event_id and len(track.event_id) == 26  # a ULID was assigned
    assert abs(track.body["timestamp"] - time.time()) < 60  # stamped on receipt, not on delivery


def test_a_v2_call_is_one_message_per_partition(broker: Broker, topics: Topics, log_dir: Path) -> None:
    """100 people in one v2 call: at most one message per partition, each holding only the operations
    of the people that partition owns, the same partition a v1 call for them goes to."""
    ops = [
        {"type": "person", "action": "event", "identifiers": {"id": f"u{i}"}, "name": "n"} for i in range(100)
    ]
    with start_ingest(broker, topics, log_dir) as ingest:
        assert _call(ingest.url, "POST", "/api/v2/batch", {"batch": ops}) == (200, {})
        for person in ("u0", "u1", "u2", "u3", "u4", "u5"):
            assert _call(ingest.url, "PUT", f"/api/v1/customers/{person}", {"plan": "x"}) == (200, {})
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"{topics.events}-parts",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})  # fmt: skip
    consumer.subscribe([topics.events])
    partition_of: dict[str, set[int]] = {}
    v2_messages = read = 0
    try:
        deadline = time.monotonic() + 30
        while read < 106:
            assert time.monotonic() < deadline, f"read {read} events of 106 in 30 s"
            for message in consumer.consume(100, 0.5):
                if message.error():
                    continue
                envelopes = Envelope.decode(message.value() or b"").split()
                v2_messages += envelopes[0].endpoint == "v2_op"
                read += len(envelopes)
                for env in envelopes:
                    person = env.params.get("id") or env.body["identifiers"]["id"]
                    partition_of.setdefault(person, set()).add(message.partition() or 0)
    finally:
        consumer.close()
    assert v2_messages <= 6
    assert all(len(parts) == 1 for parts in partition_of.values()), partition_of  # v1 and v2 agree
    assert len({p for parts in partition_of.values() for p in parts}) > 1  # spread over partitions


def test_known_events_all_arrive_and_bad_ones_are_dead_lettered(
    broker: Broker, topics: Topics, redis_url: str, log_dir: Path, tmp_path: Path
) -> None:
    """1500 events (half without client ids) all reach the sandbox; rejected ones land in the DLQ."""
    # The sandbox workspace is stricter than ingest (event names <= 20 bytes), so some calls that
    # ingest accepts are refused at delivery, inside otherwise valid batches (207).
    config = tmp_path / "sandbox.yaml"
    config.write_text("limits:\n  event_name_bytes: 20\n")
    calls = [event(i, with_id=i % 2 == 0) for i in range(1500)]
    calls += [("POST", "/api/v1/customers/longname/events", {"name": "n" * 30, "data": {"seq": -i}})
              for i in range(1, 4)]  # fmt: skip
    calls.append(
        ("POST", "/api/v1/events", {"name": "tested", "anonymous_id": "anon-1", "data": {"seq": 1500}})
    )
    with running_sandbox("--config", str(config), log_dir=log_dir) as sandbox, \
            start_ingest(broker, topics, log_dir) as ingest, \
            start_sender(broker, topics, sandbox.url, redis_url, log_dir) as sender:  # fmt: skip
        foreign = Producer({"bootstrap.servers": broker.bootstrap})
        foreign.produce(topics.events, b"not an envelope", b"k")
        assert foreign.flush(10) == 0
        t0 = time.monotonic()
        statuses = send_calls(ingest.url, calls, concurrency=8, timeout=60)
        assert statuses[200] == len(calls), statuses
        t1 = time.monotonic()
        expected = set(range(1501))
        events = wait_for_seqs(sandbox.url, expected, timeout=30)
        print(f"ingest {t1 - t0:.1f}s, delivered {time.monotonic() - t1:.1f}s later")
        assert_all_arrived_once_per_id(events, expected)
        dead = [orjson.loads(v) for v in _read_topic(broker, topics.dead_letters, 4)]
        metrics = scrape(sender.url)
    reasons = sorted(d["reason"] for d in dead)
    assert reasons == ["too_long"] * 3 + ["undecodable"], reasons
    assert all(d["message"] for d in dead)
    assert metrics["pipeline_sender_events_delivered_total"] >= 1501
    assert metrics["pipeline_sender_batch_operations_count"] < 1501 / 2  # events really were batched
