"""The ingest service against its OpenAPI document (the contract's Track subset): schemathesis,
bounded and seeded, finds 0 server errors, 0 schema-valid requests rejected, 0 schema-violating
requests accepted and 0 responses off their schema (issue 14). A real broker keeps every call."""

from __future__ import annotations

import pytest

from cio_contract import DEFAULT_LIMITS
from pipeline.ingest import openapi_document
from tests.pipeline.harness import start_ingest
from tests.support.conformance import run_schemathesis

pytestmark = pytest.mark.slow


def test_schemathesis_finds_nothing_against_ingest(broker, topics, log_dir):
    document = openapi_document(DEFAULT_LIMITS)
    with start_ingest(broker, topics, log_dir) as ingest:
        result = run_schemathesis(document, ingest.url, log_dir, seed=20261201, max_examples=3)
        assert ingest.alive()
    print(f"schemathesis against ingest: {result.summary()}")
    assert result.cases > 500, result.output[-3000:]
    assert not result.failures, result.output[-6000:]
