"""Each CLI's --help shows every declared default, and the variable that sets it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from plumbing.options import Options


def _suite() -> list[tuple[str, Callable[[], Any], list[Options]]]:
    from analysis import options as analysis_options
    from analysis.report import _parser as report_parser
    from deploy import capacity
    from pipeline import options as pipeline_options
    from pipeline.cli import parser as pipeline_parser
    from runs import options as runs_options
    from runs.cli import _parser as runs_parser
    from runs.pipeline import parser as queue_parser
    from runs.scale import options as scale_options
    from runs.scale import parser as scale_parser
    from sandbox import options as sandbox_options
    from sandbox.cli import parser as sandbox_parser

    return [
        ("sandbox", sandbox_parser, [sandbox_options.OPTIONS]),
        ("ingest", lambda: pipeline_parser("ingest"), [pipeline_options.COMMON, pipeline_options.INGEST]),
        ("sender", lambda: pipeline_parser("sender"), [pipeline_options.COMMON, pipeline_options.SENDER]),
        ("runs", runs_parser, [runs_options.OPTIONS]),
        ("runs pipeline", lambda: queue_parser("pipeline"), [runs_options.PIPELINE.only("runs pipeline")]),
        ("runs direct", lambda: queue_parser("direct"), [runs_options.PIPELINE.only("runs direct")]),
        ("runs scale", scale_parser, [scale_options()]),
        ("report", report_parser, [analysis_options.OPTIONS]),
        ("capacity", capacity._parser, [capacity.OPTIONS]),
        ("locust", _locust_parser, _locust_tables()),
    ]


def _locust_tables() -> list[Options]:
    from locustfiles import master_watch, options
    from locustfiles.gate import plugin as gate
    from locustfiles.monitoring import options as monitoring

    return [options.OPTIONS, monitoring.OPTIONS, gate.OPTIONS, master_watch.OPTIONS]


def _locust_parser() -> Any:
    from locust.argument_parser import get_empty_argument_parser, setup_parser_arguments

    parser = get_empty_argument_parser(default_config_files=[])
    setup_parser_arguments(parser)
    for table in _locust_tables():
        table.add_to(parser)
    return parser


@pytest.mark.parametrize(
    "name",
    [
        "sandbox", "ingest", "sender", "runs", "runs pipeline", "runs direct", "runs scale", "report",
        "capacity", "locust",
    ],
)  # fmt: skip
def test_help_shows_every_declared_default(name):
    _, build, tables = next(entry for entry in _suite() if entry[0] == name)
    text = " ".join(build().format_help().split())
    for option in (o for table in tables for o in table):
        assert option.flag in text, option.flag
        if option.env:
            assert f"env {option.env}" in text, f"{option.flag}: no {option.env} in --help"
        if option.secret or option.kind == "flag" or option.default in (None, "", []):
            continue
        assert f"default: {option.default}" in text, f"{option.flag}: default {option.default} not in --help"


def _plain_parsers() -> dict[str, Callable[[], Any]]:
    """The CLIs built on argparse itself (one-off tools and subcommands), not on a declaration table."""
    from analysis.history import _parser as history_parser
    from deploy.healthcheck import parser as healthcheck_parser
    from sandbox.cli import gen_cert_parser

    return {
        "analysis.history": history_parser,
        "deploy.healthcheck": healthcheck_parser,
        "sandbox gen-cert": gen_cert_parser,
    }


@pytest.mark.parametrize("name", sorted(_plain_parsers()))
def test_every_other_cli_shows_each_default_it_declares(name):
    """No restated "(default 10)": each default reaches --help through %(default)s, as declared."""
    import argparse

    parser = _plain_parsers()[name]()
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        default = action.default
        if action.help == argparse.SUPPRESS or default in (None, False, [], argparse.SUPPRESS):
            continue
        assert f"default: {default}" in text, (
            f"{name} {action.option_strings}: default {default!r} not in --help"
        )
