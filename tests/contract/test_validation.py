"""Every documented limit, at the boundary: at the limit accepted, one byte over rejected with
Customer.io's documented message."""

from __future__ import annotations

import pytest

from cio_contract import (
    DEFAULT_LIMITS as L,
)
from cio_contract import (
    Limits,
    json_size,
    validate_cdp_batch,
    validate_cdp_message,
    validate_device,
    validate_event,
    validate_identify,
    validate_merge,
    validate_transactional,
    validate_v2_batch,
    validate_v2_operation,
)


def messages(violations):
    return [v.message for v in violations]


def person(action="identify", **fields):
    return {"type": "person", "action": action, "identifiers": {"id": "u1"}, **fields}


class TestIdentify:
    def test_identifier_at_limit_accepted(self):
        """A 150-byte id is accepted; 151 bytes is rejected."""
        assert validate_identify("a" * L.identifier_bytes, {}) == []
        assert messages(validate_identify("a" * (L.identifier_bytes + 1), {})) == [
            "id attribute cannot be longer than 150 bytes"
        ]

    def test_identifier_limit_counts_bytes_not_characters(self):
        """75 two-byte characters are 150 bytes; 76 are over."""
        assert validate_identify("é" * 75, {}) == []
        assert validate_identify("é" * 76, {}) != []

    @pytest.mark.parametrize(
        ("identifier", "message"),
        [
            ("", "id attribute cannot be an empty string"),
            ("   ", "id attribute cannot be an empty string"),
            (None, "id attribute must be present"),
            (1.5, "id attribute must be a string value"),
        ],
    )
    def test_identifier_shape(self, identifier, message):
        """Missing, blank and non-string ids get the documented messages."""
        assert messages(validate_identify(identifier, {})) == [message]

    def test_attribute_count(self):
        """300 attributes are accepted, 301 rejected; control keys do not count."""
        attrs = {f"a{i}": i for i in range(300)}
        assert validate_identify("u1", {**attrs, "_timestamp": 1, "_update": True}) == []
        assert messages(validate_identify("u1", {**attrs, "one_more": 1})) == [
            "cannot identify more than 300 attributes in one request"
        ]

    def test_attribute_name_length(self):
        """A 150-byte attribute name is accepted, 151 rejected."""
        assert validate_identify("u1", {"n" * 150: 1}) == []
        assert messages(validate_identify("u1", {"n" * 151: 1})) == [
            "attribute name cannot be longer than 150 bytes"
        ]

    def test_attribute_value_length(self):
        """A 1000-byte value is accepted, 1001 rejected with the attribute named."""
        assert validate_identify("u1", {"plan": "v" * 1000}) == []
        assert messages(validate_identify("u1", {"plan": "v" * 1001})) == [
            "value for attribute 'plan' cannot be longer than 1000 bytes"
        ]

    def test_nested_value_measured_as_json(self):
        """Non-string values are measured as compact JSON."""
        at_limit = ["x" * 996]  # ["...."] is 996 + 4 bytes
        assert json_size(at_limit) == 1000
        assert validate_identify("u1", {"tags": at_limit}) == []
        assert validate_identify("u1", {"tags": ["x" * 997]}) != []

    def test_body_must_be_object(self):
        """A list body is a type error, not a crash."""
        assert messages(validate_identify("u1", [1, 2])) == ["request body must be a JSON object"]


class TestEvent:
    def test_name_length(self):
        """A 100-byte event name is accepted, 101 rejected; surrounding spaces are trimmed."""
        assert validate_event({"name": "e" * 100}) == []
        assert validate_event({"name": "  " + "e" * 100 + "  "}) == []
        assert messages(validate_event({"name": "e" * 101})) == ["event name cannot be longer than 100 bytes"]

    @pytest.mark.parametrize("name", [None, "", "   ", 5])
    def test_blank_name(self, name):
        """A missing or blank name gets the documented message."""
        assert messages(validate_event({"name": name})) == ["event name must not be blank"]

    def test_data_must_be_hash(self):
        """Event data must be an object."""
        assert messages(validate_event({"name": "x", "data": [1]})) == ["event data must be a hash"]

    def test_data_size(self):
        """100,000 bytes of event data are accepted, 100,001 rejected."""
        filler = "d" * (100_000 - len('{"k":""}'))
        assert json_size({"k": filler}) == 100_000
        assert validate_event({"name": "x", "data": {"k": filler}}) == []
        assert messages(validate_event({"name": "x", "data": {"k": filler + "d"}})) == [
            "event data cannot be longer than 100000 bytes"
        ]

    def test_type_and_timestamp(self):
        """Only event/page/screen types and integer timestamps are valid."""
        assert validate_event({"name": "x", "type": "screen", "timestamp": 1700000000}) == []
        assert validate_event({"name": "x", "type": "click"}) != []
        assert validate_event({"name": "x", "timestamp": "yesterday"}) != []


class TestV2:
    def test_operation_size_boundary(self):
        """An operation of exactly 32 KB is accepted, one byte more rejected."""
        op = person(attributes={"z": ""})
        while 32 * 1024 - json_size(op) > 1000:  # fill with values under the 1000-byte attribute limit
            op["attributes"][f"k{len(op['attributes'])}"] = "v" * 900
        op["attributes"]["z"] = "v" * (32 * 1024 - json_size(op))
        assert json_size(op) == 32 * 1024
        assert validate_v2_operation(op) == []
        op["attributes"]["z"] += "v"
        assert messages(validate_v2_operation(op)) == ["operation cannot be larger than 32768 bytes"]

    def test_batch_size_boundary(self):
        """A batch must be under 500 KB: 511,999 bytes pass the size check, 512,000 do not."""
        body = {"batch": [person()]}
        assert validate_v2_batch(body, 500 * 1024 - 1).request_error is None
        error = validate_v2_batch(body, 500 * 1024).request_error
        assert error is not None and error.reason == "too_large"

    def test_partial_failure_reports_indexes(self):
        """Some invalid operations: per-index errors, the rest accepted (207)."""
        body = {"batch": [person(), {"type": "person", "action": "fly"}, person("event", name="Signed Up")]}
        result = validate_v2_batch(body, 200)
        assert result.request_error is None
        assert [i for i, _ in result.errors] == [1]
        assert result.accepted == 2

    def test_wholly_invalid_batch(self):
        """Nothing valid, or no batch array: a request-level error (400)."""
        assert validate_v2_batch({"batch": [{"type": "x"}]}, 20).request_error is not None
        assert validate_v2_batch({"batch": []}, 20).request_error is not None
        assert validate_v2_batch([], 20).request_error is not None

    def test_operation_count_unlimited_unless_configured(self):
        """The count limit is UNCONFIRMED, so it applies only when configured."""
        body = {"batch": [person()] * 3}
        assert validate_v2_batch(body, 100).request_error is None
        assert validate_v2_batch(body, 100, Limits(v2_batch_operations=2)).request_error is not None

    @pytest.mark.parametrize("data_limit", [50, 99, 100, 10_000])
    def test_event_data_limit_holds_inside_operations(self, data_limit):
        """An event operation's data is measured against its own limit even where the operation's
        size (measured first) could vouch for it, in a batch and alone; the same answer both ways."""
        op = person("event", name="n", attributes={"text": "x" * 89})  # data: 100 bytes as JSON
        assert json_size(op["attributes"]) == 100
        limits = Limits(event_data_bytes=data_limit)
        expected = [f"event data cannot be longer than {data_limit} bytes"] if data_limit < 100 else []
        assert messages(validate_v2_operation(op, limits)) == expected
        assert messages(validate_v2_operation(op, limits, size=json_size(op))) == expected
        assert [v.message for _, v in validate_v2_batch({"batch": [op]}, 200, limits).errors] == expected

    @pytest.mark.parametrize(
        "op",
        [
            {"type": "person", "action": "identify", "identifiers": {"id": "a", "email": "b"}},  # two ids
            {"type": "person", "action": "event", "identifiers": {"id": "a"}},  # no name
            {"type": "person", "action": "add_device", "identifiers": {"id": "a"}, "device": {"token": "t"}},
            {"type": "object", "action": "identify", "identifiers": {"object_id": "1"}},
            {"type": "delivery", "action": "event", "name": "opened", "attributes": {}},
        ],
    )
    def test_invalid_operations(self, op):
        """Operations missing what the reference requires are rejected."""
        assert validate_v2_operation(op) != []

    @pytest.mark.parametrize(
        "op",
        [
            person("event", name="Order Completed", attributes={"total": 10}),
            person("add_device", device={"token": "t", "platform": "ios"}),
            {"type": "person", "action": "merge", "primary": {"id": "a"}, "secondary": {"email": "b@x"}},
            {
                "type": "object",
                "action": "identify",
                "identifiers": {"object_type_id": "1", "object_id": "a"},
            },
            {"type": "delivery", "action": "event", "name": "opened", "attributes": {"device_token": "t"}},
        ],
    )
    def test_valid_operations(self, op):
        """Well-formed operations of each type pass."""
        assert validate_v2_operation(op) == []


class TestOthers:
    def test_device(self):
        """Devices need an id and an ios/android platform."""
        assert validate_device({"device": {"id": "tok", "platform": "ios"}}) == []
        assert validate_device({"device": {"id": "tok"}}) != []
        assert validate_device({}) != []

    def test_merge(self):
        """Merge needs exactly one identifier on each side."""
        assert validate_merge({"primary": {"id": "a"}, "secondary": {"email": "b"}}) == []
        assert validate_merge({"primary": {"id": "a", "email": "b"}, "secondary": {"id": "c"}}) != []

    def test_cdp_message_size(self):
        """A Pipelines call of 32 KB passes, one byte more is rejected."""
        msg = {"type": "track", "userId": "u", "event": "E", "properties": {"p": ""}}
        msg["properties"]["p"] = "x" * (32 * 1024 - json_size(msg))
        assert validate_cdp_message(msg) == []
        msg["properties"]["p"] += "x"
        assert validate_cdp_message(msg) != []

    def test_cdp_batch(self):
        """A Pipelines batch over 500 KB is rejected whole; bad items are reported by index."""
        good = {"type": "identify", "userId": "u"}
        assert validate_cdp_batch({"batch": [good]}, 500 * 1024) == []
        assert validate_cdp_batch({"batch": [good]}, 500 * 1024 + 1)[0][0] is None
        assert [i for i, _ in validate_cdp_batch({"batch": [good, {"type": "track"}]}, 100)] == [1]

    def test_transactional_recipients(self):
        """15 recipients are accepted, 16 rejected."""
        base = {"transactional_message_id": 1, "identifiers": {"id": "u"}}
        fifteen = ",".join(f"p{i}@example.com" for i in range(15))
        assert validate_transactional("email", {**base, "to": fifteen}) == []
        assert validate_transactional("email", {**base, "to": fifteen, "cc": "x@example.com"}) != []


@pytest.mark.parametrize("odd", [[1], {"a": 1}, 3, None])
def test_odd_types_are_violations_not_crashes(odd):
    """A list or object where a word belongs is reported, never raised."""
    assert validate_event({"name": "x", "type": odd}) != [] or odd is None
    assert validate_v2_operation({"type": odd, "action": "identify"}) != []
    assert validate_v2_operation({"type": "person", "action": odd, "identifiers": {"id": "u"}}) != []
    assert validate_v2_operation({"type": "object", "action": odd}) != []
    assert validate_v2_operation({"type": "delivery", "action": "event", "name": odd}) != []
    assert validate_cdp_message({"type": odd, "userId": "u"}) != []


def test_json_size_matches_the_stdlib_form():
    """json_size measures compact UTF-8 JSON, also for what orjson refuses."""
    import json

    for value in ({"a": [1, 2.5, None, True], "é": "ü"}, {1: "int key"}, [2**70]):
        expected = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        assert json_size(value) == expected


def test_new_track_endpoints_are_in_the_table_with_their_documented_status_and_auth():
    """Segments, forms, delivery metrics and unsubscribe: routed, 204 for forms, two without auth."""
    from cio_contract import ENDPOINTS, Router, validate_v1

    by_name = {e.name: e for e in ENDPOINTS}
    assert by_name["submit_form"].ok_status == 204
    assert {e.name for e in ENDPOINTS if not e.auth} == {"metrics", "unsubscribe"}
    assert {"send_whatsapp", "send_inbox_message", "send_in_app"} <= set(by_name)
    endpoint, params, _ = Router().match("POST", "/api/v1/segments/12/remove_customers?id_type=email")
    assert endpoint is not None and endpoint.name == "remove_from_segment" and params == {"segment_id": "12"}
    assert validate_v1("add_to_segment", {"segment_id": "12"}, {"ids": ["a"]}) == []
    assert [v.message for v in validate_v1("unsubscribe", {"delivery_id": "d"}, {"unsubscribe": "yes"})] == [
        "unsubscribe must be true or false"
    ]
    assert validate_v1("metrics", {}, {"delivery_id": "d", "metric": "spammed", "timestamp": 1}) == []
    assert (
        validate_v1("push_metrics", {}, {"delivery_id": "d", "event": "opened", "timestamp": "x"})[0].message
        == "timestamp must be a unix timestamp integer"
    )
