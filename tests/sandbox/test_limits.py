"""Every documented limit over HTTP, at the boundary: at the limit accepted, one byte over rejected
with the documented message (the numbers come from ``cio_contract.DEFAULT_LIMITS``)."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
import requests

from cio_contract import DEFAULT_LIMITS as L
from tests.support.sandbox import DEMO, sandbox_stats

CDP_AUTH = (DEMO["cdp_write_key"], "")
APP_HEADERS = {"Authorization": f"Bearer {DEMO['app_api_key']}", "Content-Type": "application/json"}


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def exactly(target: int, make: Callable[[int], Any]) -> bytes:
    """The compact JSON of ``make(n)`` for the n that makes it exactly ``target`` bytes."""
    raw = compact(make(target - len(compact(make(0)))))
    assert len(raw) == target
    return raw


def person_op(size: int, person: str = "p") -> bytes:
    """A valid v2 identify operation of exactly ``size`` bytes (values within the 1000-byte limit)."""
    full = 0
    while len(compact(_op(full + 1, 0, person))) + 0 <= size - 20:
        full += 1
    return exactly(size, lambda n: _op(full, n, person))


def _op(full: int, pad: int, person: str) -> dict[str, Any]:
    attributes = {f"a{i}": "x" * 1000 for i in range(full)}
    attributes["pad"] = "y" * pad
    return {"type": "person", "action": "identify", "identifiers": {"id": person}, "attributes": attributes}


def put(track: requests.Session, url: str, path: str, raw: bytes) -> requests.Response:
    return track.put(url + path, data=raw, headers={"Content-Type": "application/json"})


class TestTrackV1:
    def test_identifier_bytes(self, sandbox, track):
        """A 150-byte id is accepted; 151 bytes is rejected."""
        assert (
            put(track, sandbox.url, "/api/v1/customers/" + "i" * L.identifier_bytes, b"{}").status_code == 200
        )
        r = put(track, sandbox.url, "/api/v1/customers/" + "i" * (L.identifier_bytes + 1), b"{}")
        assert (r.status_code, r.json()) == (
            400,
            {"meta": {"error": "id attribute cannot be longer than 150 bytes"}},
        )

    def test_attribute_name_bytes(self, sandbox, track):
        """A 150-byte attribute name is accepted; 151 bytes is rejected."""
        assert put(track, sandbox.url, "/api/v1/customers/u", compact({"n" * 150: 1})).status_code == 200
        r = put(track, sandbox.url, "/api/v1/customers/u", compact({"n" * 151: 1}))
        assert r.status_code == 400
        assert r.json() == {"meta": {"error": "attribute name cannot be longer than 150 bytes"}}

    def test_attribute_value_bytes(self, sandbox, track):
        """A 1000-byte value is accepted (multi-byte characters count as bytes); 1001 is rejected."""
        assert put(track, sandbox.url, "/api/v1/customers/u", compact({"v": "é" * 500})).status_code == 200
        r = put(track, sandbox.url, "/api/v1/customers/u", compact({"v": "x" * 1001}))
        assert (r.status_code, r.json()) == (
            400,
            {"meta": {"error": "value for attribute 'v' cannot be longer than 1000 bytes"}},
        )

    def test_attributes_per_call(self, sandbox, track):
        """300 attributes are accepted; 301 are rejected."""
        at_limit = {f"a{i}": i for i in range(300)}
        assert put(track, sandbox.url, "/api/v1/customers/u", compact(at_limit)).status_code == 200
        r = put(track, sandbox.url, "/api/v1/customers/u", compact({**at_limit, "one_more": 1}))
        assert r.json() == {"meta": {"error": "cannot identify more than 300 attributes in one request"}}

    def test_event_name_bytes(self, sandbox, track):
        """A 100-byte event name is accepted; 101 bytes is rejected."""
        url = f"{sandbox.url}/api/v1/customers/u/events"
        assert track.post(url, json={"name": "e" * 100}).status_code == 200
        r = track.post(url, json={"name": "e" * 101})
        assert (r.status_code, r.json()) == (
            400,
            {"meta": {"errors": ["event name cannot be longer than 100 bytes"]}},
        )

    def test_event_data_bytes(self, sandbox, track):
        """Event data of 100,000 bytes is accepted; 100,001 is rejected."""
        url = f"{sandbox.url}/api/v1/customers/u/events"
        data = exactly(L.event_data_bytes, lambda n: {"k": "d" * n})
        assert track.post(url, data=b'{"name":"big","data":' + data + b"}").status_code == 200
        data = exactly(L.event_data_bytes + 1, lambda n: {"k": "d" * n})
        r = track.post(url, data=b'{"name":"big","data":' + data + b"}")
        assert r.json() == {"meta": {"errors": ["event data cannot be longer than 100000 bytes"]}}

    def test_event_data_must_be_a_hash(self, sandbox, track):
        """Event data that is not an object is rejected with the documented message."""
        r = track.post(f"{sandbox.url}/api/v1/customers/u/events", json={"name": "e", "data": [1]})
        assert r.json() == {"meta": {"errors": ["event data must be a hash"]}}


class TestTrackV2:
    def test_entity_bytes(self, sandbox, track):
        """/api/v2/entity: 32 KB accepted, one byte more rejected."""
        url = f"{sandbox.url}/api/v2/entity"
        assert track.post(url, data=person_op(L.v2_entity_bytes)).status_code == 200
        r = track.post(url, data=person_op(L.v2_entity_bytes + 1))
        assert r.status_code == 400
        assert r.json()["errors"][0]["message"] == "request cannot be larger than 32768 bytes"

    def test_operation_bytes_in_batch(self, sandbox, track):
        """A 32 KB operation in a batch is accepted; one byte more gets 207 with its batch_index."""
        url = f"{sandbox.url}/api/v2/batch"
        small = compact({"type": "person", "action": "identify", "identifiers": {"id": "s"}})
        ok = b'{"batch":[' + person_op(L.v2_operation_bytes) + b"," + small + b"]}"
        assert track.post(url, data=ok).status_code == 200
        over = b'{"batch":[' + person_op(L.v2_operation_bytes + 1) + b"," + small + b"]}"
        r = track.post(url, data=over)
        assert r.status_code == 207
        assert r.json()["errors"] == [
            {
                "batch_index": 0,
                "reason": "too_large",
                "field": "",
                "message": "operation cannot be larger than 32768 bytes",
            }
        ]

    def test_batch_bytes(self, sandbox, track):
        """A batch of 500 KB minus one byte is accepted; exactly 500 KB is rejected (must be under)."""
        url = f"{sandbox.url}/api/v2/batch"
        op = person_op(30_000)
        for target, status in ((L.v2_batch_bytes - 1, 200), (L.v2_batch_bytes, 400)):
            ops = [op] * 16
            head = b'{"batch":[' + b",".join(ops) + b","
            last = person_op(target - len(head) - 2, "last")
            body = head + last + b"]}"
            assert len(body) == target
            r = track.post(url, data=body)
            assert r.status_code == status, r.text[:200]
        assert r.json() == {
            "errors": [
                {
                    "reason": "too_large",
                    "field": "batch",
                    "message": "batch must be smaller than 512000 bytes",
                }
            ]
        }


class TestPipelines:
    def test_message_bytes(self, fresh_sandbox):
        """A 32 KB call is accepted; one byte more gets 200 and is dropped, or 400 in strict mode."""
        url = f"{fresh_sandbox.url}/v1/track"
        make = lambda n: {"userId": "c", "event": "E", "properties": {"p": "x" * n}}  # noqa: E731
        at_limit, over = exactly(L.cdp_message_bytes, make), exactly(L.cdp_message_bytes + 1, make)
        assert requests.post(url, data=at_limit, auth=CDP_AUTH).status_code == 200
        assert requests.post(url, data=over, auth=CDP_AUTH).status_code == 200
        r = requests.post(url, data=over, auth=CDP_AUTH, headers={"X-Strict-Mode": "1"})
        assert r.status_code == 400 and r.json()["code"] == "too_large"
        counters = sandbox_stats(fresh_sandbox.url)["workspaces"]["demo"]["endpoints"]["cdp_track"]
        assert (counters["accepted"], counters["too_large"]) == (1, 2)

    def test_batch_bytes(self, fresh_sandbox):
        """A 500 KB batch is accepted; one byte more is dropped (200) or refused in strict mode."""
        url = f"{fresh_sandbox.url}/v1/batch"
        message = compact({"type": "track", "userId": "c", "event": "E", "properties": {"p": "x" * 30_000}})
        for target, strict_status in ((L.cdp_batch_bytes, 200), (L.cdp_batch_bytes + 1, 400)):
            head = b'{"batch":[' + b",".join([message] * 16) + b","
            last = exactly(
                target - len(head) - 2,
                lambda n: {"type": "track", "userId": "c", "event": "E", "properties": {"p": "z" * n}},
            )
            body = head + last + b"]}"
            assert len(body) == target
            assert requests.post(url, data=body, auth=CDP_AUTH).status_code == 200
            r = requests.post(url, data=body, auth=CDP_AUTH, headers={"X-Strict-Mode": "1"})
            assert r.status_code == strict_status
        assert r.json() == {"code": "too_large", "message": "batch cannot be larger than 512000 bytes"}
        counters = sandbox_stats(fresh_sandbox.url)["workspaces"]["demo"]["endpoints"]["cdp_batch"]
        assert (counters["accepted"], counters["too_large"], counters["operations_accepted"]) == (2, 2, 34)


class TestApp:
    def test_recipients(self, sandbox):
        """15 recipients across to/cc/bcc are accepted; 16 are rejected."""
        url = f"{sandbox.url}/v1/send/email"
        to = ",".join(f"r{i}@example.com" for i in range(10))
        base = {"transactional_message_id": 1, "identifiers": {"id": "u"}, "to": to}
        cc = ",".join(f"c{i}@example.com" for i in range(5))
        assert requests.post(url, json={**base, "cc": cc}, headers=APP_HEADERS).status_code == 200
        r = requests.post(url, json={**base, "cc": cc, "bcc": "b@example.com"}, headers=APP_HEADERS)
        assert (r.status_code, r.json()) == (
            400,
            {"meta": {"error": "cannot send to more than 15 recipients"}},
        )

    def test_attachments_bytes(self, sandbox):
        """Attachments just under 2 MB are accepted; 2 MB is rejected."""
        url = f"{sandbox.url}/v1/send/email"
        base = {"transactional_message_id": 1, "identifiers": {"id": "u"}, "to": "a@example.com"}
        limit = L.transactional_attachments_bytes
        for target, status in ((limit - 1, 200), (limit, 400)):
            attachments = exactly(target, lambda n: {"a.txt": "QQ" * 0 + "Q" * n})
            body = compact(base)[:-1] + b',"attachments":' + attachments + b"}"
            r = requests.post(url, data=body, headers=APP_HEADERS)
            assert r.status_code == status
        assert r.json() == {"meta": {"error": "attachments must be smaller than 2097152 bytes in total"}}


def _raw(url: str, head: str, body_chunks: list[bytes] = ()) -> bytes:
    host, port = url.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        for chunk in body_chunks:
            sock.sendall(chunk)
        data = b""
        while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < int(
            data.partition(b"Content-Length: ")[2].split(b"\r\n")[0] or 0
        ):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


AUTH = "Basic " + base64.b64encode(b"demo-site:demo-track-key").decode()


def test_declared_oversize_is_refused_from_the_headers(fresh_sandbox):
    """A Content-Length of 1 GB gets 413 JSON at once, without the body ever being sent."""
    head = f"PUT /api/v1/customers/u HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nContent-Length: 1000000000\r\n\r\n"
    data = _raw(fresh_sandbox.url, head)
    assert data.startswith(b"HTTP/1.1 413 ")
    assert b'"request body cannot be larger than 4194304 bytes (declared 1000000000)"' in data
    assert sandbox_stats(fresh_sandbox.url)["workspaces"]["demo"]["totals"]["too_large"] == 1


def test_streamed_oversize_is_discarded_not_buffered(fresh_sandbox):
    """A chunked v2 batch growing past 500 KB is answered 400 and counted too_large."""
    head = f"POST /api/v2/batch HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 65536
    chunks = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"] * 10 + [b"0\r\n\r\n"]
    data = _raw(fresh_sandbox.url, head, chunks)
    assert data.startswith(b"HTTP/1.1 400 ")
    assert b"request body cannot be larger than 512000 bytes" in data
    assert sandbox_stats(fresh_sandbox.url)["workspaces"]["demo"]["endpoints"]["v2_batch"]["too_large"] == 1


@pytest.mark.parametrize("path", ["/api/v1/customers/u"])
def test_track_v1_body_cap(sandbox, track, path):
    """Track v1 has no documented cap; the sandbox refuses bodies above 1 MiB with 413 JSON."""
    r = track.put(sandbox.url + path, data=b"{" + b" " * (1024 * 1024) + b"}")
    assert r.status_code == 413 and "cannot be larger than 1048576 bytes" in r.json()["meta"]["error"]


def test_track_v1_body_cap_boundary(fresh_sandbox):
    """Exactly 1 MiB is read and validated; one byte more is refused as too large."""
    import requests as rq

    url = f"{fresh_sandbox.url}/api/v1/customers/u"
    auth = ("demo-site", "demo-track-key")
    at_limit = b"{" + b" " * (1024 * 1024 - 2) + b"}"
    assert rq.put(url, data=at_limit, auth=auth).status_code == 200
    assert rq.put(url, data=at_limit + b" ", auth=auth).status_code == 413


def test_send_at_at_most_90_days_ahead(sandbox):
    """send_at up to the end of the 90th whole UTC day ahead is accepted; a second beyond is rejected.

    Whole days, so the OpenAPI document's ``maximum`` and the sandbox agree all day long."""
    from cio_contract.schemas import send_at_limit

    url = f"{sandbox.url}/v1/send/email"
    base = {"transactional_message_id": 1, "identifiers": {"id": "u"}, "to": "a@example.com"}
    limit = send_at_limit(L.send_at_max_days)
    assert requests.post(url, json={**base, "send_at": limit}, headers=APP_HEADERS).status_code == 200
    r = requests.post(url, json={**base, "send_at": limit + 1}, headers=APP_HEADERS)
    assert (r.status_code, r.json()) == (
        400,
        {"meta": {"error": "send_at cannot be more than 90 days in the future"}},
    )
