"""Pure parts of the pipeline: v1 -> v2 conversion, batch limits, verdicts on answers, commit points."""

from __future__ import annotations

import orjson
import pytest

from cio_contract import CLIENT_BATCH_BYTES, KB, validate_v2_batch
from pipeline.batching import Batcher, Item
from pipeline.cli import main
from pipeline.delivery import backoff, classify
from pipeline.envelope import Envelope, person_key, to_operation
from pipeline.offsets import OffsetTracker, PartitionOffsets


def _env(endpoint: str, body: object, params: dict[str, str] | None = None, path: str = "/x") -> Envelope:
    return Envelope("demo-site", endpoint, "POST", path, params or {}, body, None, 0)


def _item(env: Envelope, offset: int = 0, partition: PartitionOffsets | None = None) -> Item:
    return Item(env.encode(), b"k", partition or PartitionOffsets("t", 0), offset, env)


def test_v1_calls_become_valid_v2_operations() -> None:
    """Every v1 call the ingest accepts converts to an operation the contract accepts in a v2 batch."""
    calls = [
        _env("identify", {"email": "a@b.c", "plan": "pro", "_timestamp": 7}, {"id": "u1"}),
        _env("track", {"name": " bought ", "data": {"sku": 1}, "id": "01J", "timestamp": 5}, {"id": "u1"}),
        _env("track", {"name": "home", "type": "page"}, {"id": "a@b.c"}),
        _env("add_device", {"device": {"id": "tok", "platform": "ios", "last_used": 1}}, {"id": "cio_9"}),
        _env("delete_device", {}, {"id": "u1", "device_id": "tok"}),
        _env("suppress", {}, {"id": "u1"}),
        _env("delete", {}, {"id": "u1"}),
        _env("merge_customers", {"primary": {"id": "a"}, "secondary": {"email": "b@c.d"}}),
    ]
    ops = [to_operation(c) for c in calls]
    result = validate_v2_batch({"batch": ops}, 1000)
    assert result.request_error is None and result.errors == []
    assert ops[1] == {"type": "person", "identifiers": {"id": "u1"}, "action": "event", "name": "bought",
                      "attributes": {"sku": 1}, "id": "01J", "timestamp": 5}  # fmt: skip
    assert ops[0]["attributes"] == {"email": "a@b.c", "plan": "pro"} and ops[0]["timestamp"] == 7
    assert ops[2]["identifiers"] == {"email": "a@b.c"} and ops[2]["action"] == "page"
    assert ops[3]["identifiers"] == {"cio_id": "9"} and ops[3]["device"]["token"] == "tok"


def test_anonymous_events_are_replayed_as_v1() -> None:
    """v2 person operations need an identifier, so anonymous events keep their v1 request."""
    assert to_operation(_env("track_anonymous", {"name": "x", "anonymous_id": "an"})) is None
    assert person_key("track_anonymous", {}, {"anonymous_id": "an"}) == "an"
    assert person_key("v2_op", {}, {"identifiers": {"object_type_id": "1", "object_id": "c"}}) == "1:c"


def test_batches_stay_under_the_byte_budget_and_operation_cap() -> None:
    """A batch closes before passing CLIENT_BATCH_BYTES or the operation cap, and its body is valid."""
    batcher = Batcher(max_operations=1000, max_bytes=CLIENT_BATCH_BYTES, operation_bytes=32 * KB, linger=10)
    op = {"type": "person", "action": "identify", "identifiers": {"id": "u"}, "attributes": {"a": "x" * 900}}
    ready = []
    for i in range(2000):
        env = _env("v2_op", op)
        ready += batcher.add(_item(env, i), op)
    assert ready, "2000 ~1 KB operations must not fit one batch"
    for batch in ready:
        method, path, body = batch.request()
        assert (method, path) == ("POST", "/api/v2/batch")
        assert len(body) < CLIENT_BATCH_BYTES
        assert validate_v2_batch(orjson.loads(body), len(body)).errors == []
    small = Batcher(max_operations=7, max_bytes=CLIENT_BATCH_BYTES, operation_bytes=32 * KB, linger=10)
    sizes = [len(b.items) for i in range(20) for b in small.add(_item(_env("v2_op", op), i), op)]
    assert sizes == [7, 7] and len(small.drain()[0].items) == 6


def test_oversized_operation_and_linger() -> None:
    """An event over 32 KB as v2 goes alone as its v1 call; an open batch is due after linger."""
    batcher = Batcher(max_operations=100, max_bytes=CLIENT_BATCH_BYTES, operation_bytes=32 * KB, linger=0.5)
    big = _env(
        "track", {"name": "big", "data": {"blob": "x" * 40_000}}, {"id": "u"}, "/api/v1/customers/u/events"
    )
    [single] = batcher.add(_item(big), to_operation(big))
    assert single.single and single.request()[1] == "/api/v1/customers/u/events"
    small = _env("delete", {}, {"id": "u"})
    assert batcher.add(_item(small), to_operation(small)) == []
    assert batcher.due(now=0) == []
    assert len(batcher.due(now=1e12)) == 1


def test_verdicts() -> None:
    """2xx delivers, 207 dead-letters only named ops, 400 splits unnamed, 429/5xx/no answer retry."""
    items = [_item(_env("v2_op", {}), i) for i in range(4)]
    assert len(classify(200, b"{}", {}, items).delivered) == 4
    body = orjson.dumps({"errors": [{"batch_index": 2, "reason": "invalid_value", "message": "bad"},
                                    {"batch_index": 3, "reason": "rate_limited", "message": "later"}]})  # fmt: skip
    partial = classify(207, body, {}, items)
    assert partial.delivered == items[:2] and partial.retry == [items[3]]
    assert [(i, r) for i, r, _ in partial.dead] == [(items[2], "invalid_value")]
    assert classify(400, b'{"errors":[{"reason":"x"}]}', {}, items).split
    assert classify(400, b'{"meta":{"errors":["name blank"]}}', {}, items[:1]).dead[0][2] == "name blank"
    for status in (429, 500, 503, None):
        verdict = classify(status, b"", {"Retry-After": "3"}, items)
        assert verdict.retry == items and verdict.retry_after == 3.0
    assert 3.0 <= backoff(0, 0.1, 10, retry_after=3.0) <= 3.2
    assert all(0.8 <= backoff(3, 0.2, 10) <= 1.6 for _ in range(50))


def test_commit_point_waits_for_earlier_offsets() -> None:
    """Offsets finish out of order; the commit point only moves over a contiguous finished run."""
    tracker = OffsetTracker()
    part = tracker.partition("t", 0)
    for offset in range(10, 15):
        part.add(offset)
    part.finish(12)
    assert tracker.commits() == []
    part.finish(10)
    assert tracker.commits() == [("t", 0, 11)]
    part.finish(11)
    part.finish(13)
    assert tracker.commits() == [("t", 0, 14)] and tracker.commits() == []
    assert tracker.release([("t", 0)]) == [("t", 0, 14)]
    part.finish(14)  # late completion of a revoked partition changes nothing
    assert tracker.commits() == []


def test_a_message_of_several_events_finishes_with_its_last() -> None:
    """A v2_ops message's offset is committed only once every one of its operations finished."""
    tracker = OffsetTracker()
    part = tracker.partition("t", 0)
    part.add(0, events=3)
    part.add(1)
    part.finish(1)
    part.finish(0)
    part.finish(0)
    assert tracker.commits() == []
    part.finish(0)
    assert tracker.commits() == [("t", 0, 2)]


def test_v2_ops_envelope_splits_into_one_v2_op_per_operation() -> None:
    """The sender gets back exactly the operations and ids ingest packed; a foreign shape is refused."""
    ops = [
        {"type": "person", "action": "event", "identifiers": {"id": f"u{i}"}, "name": "n"} for i in range(3)
    ]
    raw = Envelope.encode_operations("demo-site", ops, ["a", None, "c"], 7)
    parts = Envelope.decode(raw).split()
    assert parts == [Envelope("demo-site", "v2_op", "POST", "/api/v2/batch", {}, op, i, 7)
                     for op, i in zip(ops, ["a", None, "c"], strict=True)]  # fmt: skip
    assert [to_operation(e) for e in parts] == ops
    single = _env("identify", {"plan": "x"}, {"id": "u1"})
    assert single.split() == [single]
    for body, ids in (([], []), (ops, ["a"]), ({"op": 1}, ["a"])):
        foreign = orjson.dumps({"w": "demo-site", "e": "v2_ops", "m": "POST", "p": "/", "a": {}, "b": body,
                                "id": ids, "t": 0})  # fmt: skip
        with pytest.raises(ValueError, match="v2_ops"):
            Envelope.decode(foreign).split()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["sender", "--bootstrap-servers", "127.0.0.1:9", "--redis-url", "redis://r"], "--target is required"),
        (["sender", "--bootstrap-servers", "127.0.0.1:9", "--redis-url", "redis://127.0.0.1:9", "--target", "http://t", "--headroom", "2"],
         "--headroom must be below 1 (got 2)"),
        (["ingest", "--bootstrap-servers", "127.0.0.1:9", "--workspace", "nokey"], "SITE_ID:TRACK_API_KEY"),
        (["ingest"], "--bootstrap-servers is required"),
    ],
)  # fmt: skip
def test_bad_options_exit_2_with_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad configuration is one readable line on stderr and exit code 2."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_sender_takes_the_shared_rate_limit_grammar():
    """``--rate-limit`` is written as everywhere else; its +BURST bounds what the sender bursts."""
    from pipeline.cli import build_sender, values_for

    base = ["--bootstrap-servers", "127.0.0.1:9", "--target", "http://t", "--redis-url", "redis://r"]
    spaced = build_sender(values_for("sender", [*base, "--rate-limit", "track=3000/3+4", "--burst", "9"], {}))
    assert (spaced.rate_limit, spaced.burst) == (1000, 4)
    sliding = build_sender(values_for("sender", [*base, "--rate-limit", "100", "--burst", "9"], {}))
    assert (sliding.rate_limit, sliding.burst) == (100, 9)


def test_sender_counts_arrivals_in_the_limits_own_window():
    """A sliding limit (REQUESTS[/SECONDS]) is enforced on arrivals in its window; the tight form
    (+BURST) by spacing alone."""
    from pipeline.cli import build_sender, values_for

    base = ["--bootstrap-servers", "127.0.0.1:9", "--target", "http://t", "--redis-url", "redis://r"]
    default = build_sender(values_for("sender", [*base, "--rate-limit", "100"], {}))
    assert (default.rate_window, default.window_limit) == (1.0, 100)
    wide = build_sender(values_for("sender", [*base, "--rate-limit", "3000/3"], {}))
    assert (wide.rate_window, wide.window_limit) == (3.0, 3000)
    tight = build_sender(values_for("sender", [*base, "--rate-limit", "100/1+3"], {}))
    assert (tight.burst, tight.rate_window) == (0, 0.0)


def test_end_to_end_histogram_takes_many_equal_observations_at_once() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from pipeline.metrics import SenderMetrics

    metrics = SenderMetrics()
    metrics.delay.observe_many(0.3, 500)  # one ingest call's events, delivered together
    metrics.delay.observe(0.01)
    metrics.delay.observe(1000.0)
    [family] = [f for f in text_string_to_metric_families(metrics.render().decode())
                if f.name == "pipeline_end_to_end_seconds"]  # fmt: skip
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    bucket = "pipeline_end_to_end_seconds_bucket"
    assert samples[(bucket, "0.01")] == 1 and samples[(bucket, "0.25")] == 1
    assert samples[(bucket, "0.3")] == 501 and samples[(bucket, "120.0")] == 501
    assert samples[(bucket, "+Inf")] == samples[("pipeline_end_to_end_seconds_count", None)] == 502
    assert samples[("pipeline_end_to_end_seconds_sum", None)] == pytest.approx(150.01 + 1000)
