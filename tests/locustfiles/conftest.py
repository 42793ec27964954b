"""Fixtures for the traffic-model tests: parsed options exactly as Locust would parse them."""

from __future__ import annotations

from locust.argument_parser import get_empty_argument_parser, setup_parser_arguments

import argparse
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from locustfiles.options import add_arguments, settings_from
from locustfiles.shapes import OptionShape

SANDBOX_HOST = "http://127.0.0.1:8080"


def parse_options(*args: str) -> argparse.Namespace:
    """Locust's parser plus ours, without reading any locust.conf."""
    parser = get_empty_argument_parser(default_config_files=[])
    setup_parser_arguments(parser)
    add_arguments(parser)
    return parser.parse_args(["-f", "locustfiles/locustfile.py", *args])


def shape_at(shape: OptionShape, t: float, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(shape, "get_run_time", lambda: t)
    return shape.tick()


@pytest.fixture
def make_shape() -> Callable[..., OptionShape]:
    """A shape class instance wired to a stand-in runner holding real parsed options."""

    def build(cls: type[OptionShape] = OptionShape, *args: str, host: str = SANDBOX_HOST) -> OptionShape:
        options = parse_options(*args)
        shape = cls()
        environment = SimpleNamespace(parsed_options=options, host=host)
        shape.runner = SimpleNamespace(environment=environment)  # type: ignore[assignment]
        shape.reset_time()
        return shape

    return build


@pytest.fixture
def settings() -> Callable[..., Any]:
    return lambda *args, host=SANDBOX_HOST: settings_from(parse_options(*args), host=host)
