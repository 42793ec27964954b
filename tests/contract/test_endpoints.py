"""The endpoint table and router shared by sandbox, pipeline and traffic model."""

from __future__ import annotations

import pytest

from cio_contract import ENDPOINTS, Api, Router, endpoint, error_body, is_customerio_host


@pytest.mark.parametrize("e", ENDPOINTS, ids=lambda e: e.name)
def test_every_endpoint_routes_to_itself(e):
    """A concrete path built from each template routes back to that endpoint."""
    path = e.path.replace("{id}", "user%201").replace("{device_id}", "dev")
    found, params, known = Router().match(e.method, path)
    assert found is e and known
    if "{id}" in e.path:
        assert params["id"] == "user 1"


def test_wrong_method_and_unknown_path():
    """A known path with the wrong method is told apart from an unknown path."""
    assert Router().match("GET", "/api/v1/customers/u1") == (None, {}, True)
    assert Router().match("GET", "/nope") == (None, {}, False)
    assert Router().match("PUT", "/api/v1/customers/") == (None, {}, False)


def test_stats_names_hide_ids():
    """Locust stats names use [param] so one endpoint is one row."""
    assert endpoint("track").stats_name == "/api/v1/customers/[id]/events"
    with pytest.raises(KeyError, match="known:"):
        endpoint("nope")


def test_error_bodies_follow_each_api():
    """Track v1, v2 and Pipelines errors have their documented shapes."""
    assert error_body(Api.TRACK, "identify", "unauthorized", ["Unauthorized request"]) == {
        "meta": {"error": "Unauthorized request"}
    }
    assert error_body(Api.TRACK, "track", "invalid", ["a", "b"]) == {"meta": {"errors": ["a", "b"]}}
    assert (
        error_body(Api.TRACK, "v2_batch", "rate_limited", ["slow down"])["errors"][0]["reason"]
        == "rate_limited"
    )
    assert set(error_body(Api.CDP, "cdp_batch", "unauthorized", ["no"])) == {"code", "message"}


@pytest.mark.parametrize(
    ("url", "real"),
    [
        ("https://track.customer.io", True),
        ("https://track-eu.customer.io/api/v1", True),
        ("api.customer.io", True),
        ("http://127.0.0.1:8080", False),
        ("http://customer.io.example.com", False),
        ("http://localhost", False),
    ],
)
def test_real_host_detection(url, real):
    """Only Customer.io's own hosts count as real."""
    assert is_customerio_host(url) is real
