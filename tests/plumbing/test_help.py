"""Each CLI's --help shows every declared default, and the variable that sets it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plumbing.options import Options


def _suite() -> list[tuple[str, Callable[[], Any], list[Options]]]:
    from analysis import options as analysis_options
    from analysis.history import _parser as history_parser
    from analysis.report import _parser as report_parser
    from deploy import capacity, healthcheck
    from pipeline import options as pipeline_options
    from pipeline.cli import parser as pipeline_parser
    from runs import options as runs_options
    from runs.cli import _parser as runs_parser
    from runs.pipeline import parser as queue_parser
    from runs.scale import options as scale_options
    from runs.scale import parser as scale_parser
    from sandbox import options as sandbox_options
    from sandbox.cli import gen_cert_parser
    from sandbox.cli import parser as sandbox_parser

    return [
        ("sandbox", sandbox_parser, [sandbox_options.OPTIONS]),
        ("sandbox gen-cert", gen_cert_parser, [sandbox_options.GEN_CERT]),
        ("ingest", lambda: pipeline_parser("ingest"), [pipeline_options.COMMON, pipeline_options.INGEST]),
        ("sender", lambda: pipeline_parser("sender"), [pipeline_options.COMMON, pipeline_options.SENDER]),
        ("runs", runs_parser, [runs_options.OPTIONS]),
        ("runs pipeline", lambda: queue_parser("pipeline"), [runs_options.PIPELINE.only("runs pipeline")]),
        ("runs direct", lambda: queue_parser("direct"), [runs_options.PIPELINE.only("runs direct")]),
        ("runs scale", scale_parser, [scale_options()]),
        ("report", report_parser, [analysis_options.OPTIONS]),
        ("analysis.history", history_parser, [analysis_options.HISTORY]),
        ("capacity", capacity._parser, [capacity.OPTIONS]),
        ("deploy.healthcheck", healthcheck.parser, [healthcheck.OPTIONS]),
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
        "sandbox", "sandbox gen-cert", "ingest", "sender", "runs", "runs pipeline", "runs direct",
        "runs scale", "report", "analysis.history", "capacity", "deploy.healthcheck", "locust",
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


def test_no_shipped_cli_builds_a_bare_argparse_parser():
    """Every CLI of the suite's packages declares its options through plumbing.options (so they are in
    docs/configuration.md and the test above); the one exception is the table generator, a dev tool.
    Benchmarks (dev tools too, outside the packages) keep argparse."""
    root = Path(__file__).resolve().parents[2]
    packages = ("analysis", "cio_contract", "deploy", "httpserver", "locustfiles", "pipeline", "plumbing",
                "runs", "sandbox")  # fmt: skip
    bare = [
        str(path.relative_to(root))
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
        if "argparse.ArgumentParser(" in path.read_text(encoding="utf-8")
    ]
    assert bare == ["plumbing/config_table.py"]
