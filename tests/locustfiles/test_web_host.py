"""Plain `locust` from the repository root binds its web UI to loopback unless asked otherwise."""

from __future__ import annotations

import locust  # noqa: F401 - gevent patches ssl before anything else loads it
from locust.argument_parser import parse_options

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def in_repo_root() -> object:
    before = Path.cwd()
    os.chdir(REPO)
    try:
        yield None
    finally:
        os.chdir(before)


def test_locust_conf_binds_the_web_ui_to_loopback(in_repo_root: object) -> None:
    """locust.conf (read by every locust started here) sets web-host; an explicit option still wins."""
    assert parse_options(args=[]).web_host == "127.0.0.1"
    assert parse_options(args=["--web-host", "0.0.0.0"]).web_host == "0.0.0.0"
