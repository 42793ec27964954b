"""The emulated endpoints answer with the documented statuses and body shapes."""

from __future__ import annotations

import pytest
import requests

from tests.support.sandbox import DEMO, admin_call, sandbox_stats


def test_identify_and_track(sandbox, track):
    """Identify and track answer 200 {} and the person and event are stored."""
    url = sandbox.url
    r = track.put(f"{url}/api/v1/customers/api-u1", json={"email": "a@example.com", "plan": "pro"})
    assert (r.status_code, r.json()) == (200, {})
    r = track.post(f"{url}/api/v1/customers/api-u1/events", json={"name": " bought ", "data": {"sku": "x"}})
    assert (r.status_code, r.json()) == (200, {})
    people = admin_call(url, "people?person=api-u1")["people"]
    assert people[0]["attributes"] == {"email": "a@example.com", "plan": "pro"}
    events = admin_call(url, "events?person=api-u1")["events"]
    assert [(e["name"], e["type"]) for e in events] == [("bought", "event")]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("DELETE", "/api/v1/customers/api-u2", {}),
        ("POST", "/api/v1/events", {"name": "anon", "anonymous_id": "a-1"}),
        ("POST", "/api/v1/customers/api-u2/events", {"name": "home", "type": "page"}),
        ("POST", "/api/v1/customers/api-u2/events", {"name": "home", "type": "screen"}),
        ("PUT", "/api/v1/customers/api-u2/devices", {"device": {"id": "tok", "platform": "ios"}}),
        ("DELETE", "/api/v1/customers/api-u2/devices/tok", {}),
        ("POST", "/api/v1/customers/api-u2/suppress", {}),
        ("POST", "/api/v1/customers/api-u2/unsuppress", {}),
        ("POST", "/api/v1/merge_customers", {"primary": {"id": "a"}, "secondary": {"email": "b@x.io"}}),
        ("POST", "/api/v2/entity", {"type": "person", "action": "identify", "identifiers": {"id": "e1"}}),
    ],
)
def test_track_endpoints_accept_documented_shapes(sandbox, track, method, path, body):
    """Every Track endpoint answers 200 {} to a documented request."""
    r = track.request(method, sandbox.url + path, json=body)
    assert (r.status_code, r.json()) == (200, {})


def test_region(sandbox, track):
    """The region lookup answers url, region and environment_id."""
    body = track.get(f"{sandbox.url}/api/v1/accounts/region").json()
    assert body["region"] == "us" and body["url"] == "https://track.customer.io" and "environment_id" in body


def test_v2_batch_partial_failure_is_207_with_batch_index(sandbox, track):
    """A batch with one bad operation answers 207 naming its batch_index; the rest is stored."""
    ok = {"type": "person", "action": "event", "identifiers": {"id": "b1"}, "name": "n", "id": "01V2BATCH"}
    r = track.post(f"{sandbox.url}/api/v2/batch", json={"batch": [ok, {"type": "planet"}]})
    assert r.status_code == 207
    assert r.json() == {
        "errors": [{"batch_index": 1, "reason": "invalid_value", "field": "type",
                    "message": "type must be one of person, object, delivery"}]
    }  # fmt: skip
    assert admin_call(sandbox.url, "events?person=b1")["events"][0]["id"] == "01V2BATCH"


def test_v2_batch_wholly_invalid_is_400(sandbox, track):
    """A batch with no valid operation, or no batch at all, answers 400 with errors."""
    r = track.post(f"{sandbox.url}/api/v2/batch", json={"batch": [{"type": "planet"}]})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "type"
    r = track.post(f"{sandbox.url}/api/v2/batch", json={"nope": []})
    assert r.status_code == 400
    assert r.json() == {
        "errors": [{"reason": "required", "field": "batch", "message": "batch must be a non-empty array"}]
    }


def test_event_validation_message(sandbox, track):
    """A blank event name gets 400 with the documented message under meta.errors."""
    r = track.post(f"{sandbox.url}/api/v1/customers/u/events", json={"name": "  "})
    assert (r.status_code, r.json()) == (400, {"meta": {"errors": ["event name must not be blank"]}})


def test_merge_validation_uses_meta_error(sandbox, track):
    """Merge errors use meta.error, as documented."""
    r = track.post(f"{sandbox.url}/api/v1/merge_customers", json={"primary": {"id": "a"}})
    assert r.status_code == 400 and "secondary" in r.json()["meta"]["error"]


def test_app_send_email(sandbox):
    """App API send answers delivery_id and queued_at with Bearer auth."""
    body = {"transactional_message_id": 3, "to": "a@example.com", "identifiers": {"id": "u1"}}
    r = requests.post(
        f"{sandbox.url}/v1/send/email", json=body, headers={"Authorization": "Bearer demo-app-key"}
    )
    assert r.status_code == 200
    assert isinstance(r.json()["delivery_id"], str) and isinstance(r.json()["queued_at"], int)
    for kind in ("push", "sms"):
        r = requests.post(f"{sandbox.url}/v1/send/{kind}", json={"transactional_message_id": 1, "identifiers": {"id": "u"}},
                          headers={"Authorization": "Bearer demo-app-key"})  # fmt: skip
        assert r.status_code == 200, r.text


def test_cdp_endpoints(sandbox):
    """Pipelines calls with Basic write_key: answer 200; the batch is stored."""
    auth = (DEMO["cdp_write_key"], "")
    for kind, body in [("identify", {"userId": "c1", "traits": {"a": 1}}), ("track", {"userId": "c1", "event": "E"}),
                       ("page", {"userId": "c1", "name": "home"}), ("screen", {"anonymousId": "x"}),
                       ("group", {"userId": "c1", "groupId": "g"}), ("alias", {"userId": "c1", "previousId": "p"})]:  # fmt: skip
        assert requests.post(f"{sandbox.url}/v1/{kind}", json=body, auth=auth).status_code == 200
    batch = {"batch": [{"type": "track", "userId": "c2", "event": "Cdp Batch", "messageId": "m-1"}]}
    assert requests.post(f"{sandbox.url}/v1/batch", json=batch, auth=auth).status_code == 200
    assert admin_call(sandbox.url, "events?person=c2")["events"][0]["name"] == "Cdp Batch"


def test_cdp_invalid_is_dropped_with_200_unless_strict(sandbox):
    """An invalid Pipelines call gets 200 (dropped); with X-Strict-Mode: 1 a 400 with code and message."""
    auth = (DEMO["cdp_write_key"], "")
    r = requests.post(f"{sandbox.url}/v1/track", json={"userId": "c1"}, auth=auth)
    assert r.status_code == 200
    r = requests.post(
        f"{sandbox.url}/v1/track", json={"userId": "c1"}, auth=auth, headers={"X-Strict-Mode": "1"}
    )
    assert r.status_code == 400 and r.json()["code"] == "required" and "event" in r.json()["message"]


@pytest.mark.parametrize(
    ("path", "headers", "auth", "expected"),
    [
        ("/api/v1/customers/u", {}, None, {"meta": {"error": "Unauthorized request"}}),
        ("/api/v1/customers/u", {}, ("demo-site", "wrong"), {"meta": {"error": "Unauthorized request"}}),
        (
            "/api/v1/customers/u",
            {"Authorization": "Bearer demo-track-key"},
            None,
            {"meta": {"error": "Unauthorized request"}},
        ),
    ],
)
def test_track_unauthorized(sandbox, path, headers, auth, expected):
    """Missing or wrong Track credentials get 401 with a JSON body."""
    r = requests.put(sandbox.url + path, json={}, headers=headers, auth=auth)
    assert (r.status_code, r.json()) == (401, expected)


def test_app_and_cdp_unauthorized(sandbox):
    """App needs its own Bearer key and Pipelines its write key: others get 401 JSON."""
    r = requests.post(
        f"{sandbox.url}/v1/send/email", json={}, headers={"Authorization": "Bearer demo-track-key"}
    )
    assert (r.status_code, r.json()) == (401, {"meta": {"error": "Unauthorized request"}})
    r = requests.post(f"{sandbox.url}/v1/batch", json={"batch": []}, auth=("demo-site", "demo-track-key"))
    assert (r.status_code, r.json()) == (401, {"code": "unauthorized", "message": "Unauthorized request"})


def test_unknown_path_and_wrong_method(sandbox, track):
    """Unknown paths get a JSON 404, a known path with the wrong method a JSON 405."""
    r = track.get(f"{sandbox.url}/api/v1/nothing")
    assert r.status_code == 404 and "no such endpoint" in r.json()["meta"]["error"]
    r = track.get(f"{sandbox.url}/api/v1/customers/u1")
    assert r.status_code == 405 and "not allowed" in r.json()["meta"]["error"]


@pytest.mark.parametrize("body", [b"{bad json", b'{"a": "\xff\xfe"}', b"[1, 2", b"\x00\x01"])
def test_malformed_or_non_utf8_body_is_400_json(sandbox, track, body):
    """Malformed JSON and non-UTF-8 bodies get 400 with a JSON body on every API."""
    r = track.put(f"{sandbox.url}/api/v1/customers/u1", data=body)
    assert r.status_code == 400 and r.json() == {"meta": {"error": "request body must be valid UTF-8 JSON"}}
    r = track.post(f"{sandbox.url}/api/v2/batch", data=body)
    assert r.status_code == 400 and r.json()["errors"][0]["reason"] == "invalid_json"
    r = requests.post(
        f"{sandbox.url}/v1/send/email", data=body, headers={"Authorization": "Bearer demo-app-key"}
    )
    assert r.status_code == 400 and "meta" in r.json()


@pytest.mark.parametrize("body", [[], "text", 5, None])
def test_wrong_types_are_400(sandbox, track, body):
    """A JSON body of the wrong type is a 400 with the contract's message."""
    r = track.post(f"{sandbox.url}/api/v1/customers/u1/events", json=body)
    assert r.status_code == 400 and r.json()["meta"]["errors"]


def test_stats_count_every_request(fresh_sandbox):
    """Stats count per workspace, API and endpoint; requests is the sum of the outcomes."""
    url = fresh_sandbox.url
    with requests.Session() as s:
        s.auth = ("demo-site", "demo-track-key")
        for i in range(5):
            s.put(f"{url}/api/v1/customers/s{i}", json={})
        s.post(f"{url}/api/v1/customers/s/events", json={"name": ""})
        s.post(
            f"{url}/api/v2/batch",
            json={"batch": [{"type": "person", "action": "identify", "identifiers": {"id": "x"}}] * 3},
        )
        requests.put(f"{url}/api/v1/customers/x", json={}, auth=("demo-site", "bad"))
        requests.put(f"{url}/api/v1/customers/x", json={}, auth=("other-site", "bad"))
        s.get(f"{url}/nowhere")
    stats = sandbox_stats(url)
    demo = stats["workspaces"]["demo"]
    assert demo["endpoints"]["identify"]["accepted"] == 5
    assert demo["endpoints"]["identify"]["unauthorized"] == 1
    assert demo["endpoints"]["identify"]["stats_name"] == "/api/v1/customers/[id]"
    assert demo["endpoints"]["track"]["invalid"] == 1
    assert demo["endpoints"]["v2_batch"]["operations_accepted"] == 3
    assert demo["apis"]["track"]["requests"] == 8
    assert demo["rate_limits"]["track"]["per_second"] == 1_000_000
    unknown = stats["workspaces"]["_unknown"]["totals"]
    assert (unknown["unauthorized"], unknown["not_found"]) == (1, 1)
    totals = stats["totals"]
    assert (
        totals["requests"]
        == 10
        == sum(totals[k] for k in ("accepted", "invalid", "unauthorized", "not_found"))
    )


def test_duplicate_event_ids_are_counted_once_stored(fresh_sandbox):
    """An event id sent twice is stored once and counted as a duplicate."""
    url = fresh_sandbox.url
    with requests.Session() as s:
        s.auth = ("demo-site", "demo-track-key")
        for _ in range(3):
            assert (
                s.post(f"{url}/api/v1/customers/d/events", json={"name": "e", "id": "01DUP"}).status_code
                == 200
            )
    assert admin_call(url, "events?person=d")["count"] == 1
    assert admin_call(url, "duplicates") == {
        "duplicates": [{"workspace": "demo", "id": "01DUP", "count": 3}],
        "total": 2,
    }
    assert sandbox_stats(url)["workspaces"]["demo"]["totals"]["duplicates"] == 2


def test_reset_clears_counters_and_store(fresh_sandbox):
    """POST /__sandbox/reset zeroes the counters and forgets people and events."""
    url = fresh_sandbox.url
    requests.put(f"{url}/api/v1/customers/r1", json={"a": 1}, auth=("demo-site", "demo-track-key"))
    assert admin_call(url, "reset", "POST", {}) == {"status": "reset"}
    assert sandbox_stats(url)["totals"]["requests"] == 0
    assert admin_call(url, "people")["count"] == 0


def test_health_openapi_and_metrics(sandbox, track):
    """Health, the OpenAPI document and Prometheus metrics are served."""
    assert admin_call(sandbox.url, "health") == {"status": "ok"}
    doc = admin_call(sandbox.url, "openapi.json")
    assert doc["openapi"].startswith("3.") and "put" in doc["paths"]["/api/v1/customers/{id}"]
    assert "207" in doc["paths"]["/api/v2/batch"]["post"]["responses"]
    track.put(f"{sandbox.url}/api/v1/customers/m1", json={})
    text = requests.get(f"{sandbox.url}/metrics").text
    assert (
        'sandbox_requests_total{api="track",endpoint="/api/v1/customers/[id]",outcome="accepted",workspace="demo"}'
        in text
    )
    assert 'sandbox_rate_limit_per_second{api="track",workspace="demo"} 1e+06' in text
    assert "sandbox_operations_accepted_total" in text and "sandbox_duplicate_events_total" in text


def test_keep_alive_and_pipelining(sandbox):
    """Several pipelined requests on one connection get their answers in order."""
    import base64
    import re
    import socket

    auth = base64.b64encode(b"demo-site:demo-track-key").decode()
    request = (f"PUT /api/v1/customers/p{{}} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
               "Content-Length: 2\r\n\r\n{{}}")  # fmt: skip
    bad = "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
    payload = (request.format(1) + bad + request.format(2)).encode()
    host, port = sandbox.url.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(payload)
        data = b""
        while data.count(b"HTTP/1.1") < 3 or not data.endswith(b"{}"):
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3})", data)
    assert statuses == [b"200", b"404", b"200"]
