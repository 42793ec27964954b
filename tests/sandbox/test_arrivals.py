"""Delivery accounting in the sandbox: every tracked id that arrives is appended to its arrivals file."""

from __future__ import annotations

import random
from pathlib import Path

import requests

from tests.analysis.test_delivery import ulid
from tests.support.sandbox import DEMO, running_sandbox


def test_each_api_records_its_delivery_id_and_refused_calls_record_none(tmp_path: Path) -> None:
    """Identify, track, device, v2 ops, Pipelines messages and sends record their id; a refused call not."""
    rng = random.Random(3)
    ids = [ulid(1_790_000_000_000 + n, rng) for n in range(10)]
    arrivals = tmp_path / "arrivals"
    with running_sandbox("--arrivals-dir", str(arrivals), log_dir=tmp_path) as box:
        track = requests.Session()
        track.auth = (DEMO["site_id"], DEMO["track_api_key"])
        base = box.url
        answers = [
            track.put(f"{base}/api/v1/customers/p1", json={"email": "a@example.com", "load_test_id": ids[0]}),
            track.post(f"{base}/api/v1/customers/p1/events", json={"name": "viewed", "id": ids[1]}),
            track.post(f"{base}/api/v1/customers/p1/events", json={"name": "viewed", "id": ids[1]}),  # again
            track.put(f"{base}/api/v1/customers/p1/devices",
                      json={"device": {"id": "tok", "platform": "ios", "attributes": {"load_test_id": ids[2]}}}),
            track.post(f"{base}/api/v2/batch", json={"batch": [
                {"type": "person", "action": "event", "identifiers": {"id": "p2"}, "name": "x", "id": ids[3]},
                {"type": "person", "action": "identify", "identifiers": {"id": "p2"},
                 "attributes": {"load_test_id": ids[4]}},
            ]}),
            track.post(f"{base}/api/v1/events", json={"name": "anon", "anonymous_id": "a1", "id": "not-a-ulid"}),
        ]  # fmt: skip
        refused = requests.post(f"{base}/api/v1/customers/p1/events", json={"name": "late", "id": ids[9]},
                                auth=(DEMO["site_id"], "wrong-key"))  # fmt: skip
        cdp = requests.post(f"{base}/v1/batch", auth=(DEMO["cdp_write_key"], ""), json={"batch": [
            {"type": "track", "userId": "p3", "event": "e", "messageId": ids[5]},
            {"type": "identify", "userId": "p3", "messageId": ids[6]},
        ]})  # fmt: skip
        send = requests.post(f"{base}/v1/send/email", headers={"Authorization": f"Bearer {DEMO['app_api_key']}"},
                             json={"transactional_message_id": "1", "to": "a@example.com",
                                   "identifiers": {"id": "p1"}, "message_data": {"load_test_id": ids[7]}})  # fmt: skip
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    assert (refused.status_code, cdp.status_code, send.status_code) == (401, 200, 200)
    files = list(arrivals.glob("arrivals-0-*.txt"))
    assert len(files) == 1, "one file per sandbox process"
    lines = files[0].read_text().splitlines()
    assert all(len(line) == 40 for line in lines)
    recorded = [line.split()[0] for line in lines]
    # Every arrival is a record, duplicates included; the refused call and the foreign id leave none.
    assert sorted(recorded) == sorted([ids[0], ids[1], ids[1], *ids[2:8]])
