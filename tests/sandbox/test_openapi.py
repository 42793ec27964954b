"""The sandbox's OpenAPI document means something: schemathesis, bounded and seeded, against a real
sandbox with the document it serves, finds 0 server errors, 0 schema-valid requests rejected,
0 schema-violating requests accepted and 0 responses off their documented schema (issue 14)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from cio_contract import ENDPOINTS
from tests.sandbox.conftest import UNLIMITED
from tests.support.conformance import run_schemathesis
from tests.support.sandbox import running_sandbox

pytestmark = pytest.mark.slow


def _document(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/__sandbox/openapi.json", timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def test_the_document_declares_what_the_contract_checks(sandbox):
    document = _document(sandbox.url)
    operations = {op["operationId"]: op for path in document["paths"].values() for op in path.values()}
    assert set(operations) == {e.name for e in ENDPOINTS}, "every contract endpoint, none other"
    identify = operations["identify"]["requestBody"]
    assert identify["required"] and identify["content"]["application/json"]["schema"]["maxProperties"] == 300
    track = operations["track"]["requestBody"]["content"]["application/json"]["schema"]
    assert track["required"] == ["name"] and track["properties"]["type"]["enum"] == [
        "event",
        "page",
        "screen",
    ]
    assert "requestBody" not in operations["suppress"]
    strict = next(p for p in operations["cdp_track"]["parameters"] if p["name"] == "X-Strict-Mode")
    assert strict["schema"]["enum"] == ["1"]
    meta_error = operations["identify"]["responses"]["400"]["content"]["application/json"]["schema"]
    assert meta_error["properties"]["meta"]["required"] == ["error"]
    assert set(document["components"]["securitySchemes"]) == {"trackBasic", "appBearer", "cdpBasic"}


def test_schemathesis_finds_nothing(tmp_path):
    with running_sandbox(*UNLIMITED, log_dir=tmp_path) as sb:
        result = run_schemathesis(_document(sb.url), sb.url, tmp_path, seed=20261201, max_examples=3)
        assert sb.alive()
    print(f"schemathesis against the sandbox: {result.summary()}")
    assert result.cases > 1000, result.output[-3000:]
    assert not result.failures, result.output[-6000:]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("PUT", "/api/v1/customers/u1", {"Authorization": "Basic ZGVtby1zaXRlOmRlbW8tdHJhY2sta2V5"}, None, 400),
        ("POST", "/v1/track", {"Authorization": "Basic ZGVtby1jZHAta2V5Og==", "X-Strict-Mode": "AAA"},
         b'{"userId": "u1", "event": "e"}', 400),
        ("POST", "/v1/track", {"Authorization": "Basic ZGVtby1jZHAta2V5Og==", "X-Strict-Mode": "1"},
         b'{"userId": "u1", "event": "e"}', 200),
    ],
    ids=["identify-without-body", "strict-mode-AAA", "strict-mode-1"],
)  # fmt: skip
def test_what_the_issue_found_accepted_is_refused(sandbox, method, path, headers, body, status):
    request = urllib.request.Request(sandbox.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            got = response.status
    except urllib.error.HTTPError as exc:
        got = exc.code
    assert got == status
