"""docs/configuration.md's option tables are exactly what the declarations generate."""

from __future__ import annotations

import locust  # noqa: F401 - gevent must patch ssl before anything imports it (the traffic model's options)

from dataclasses import replace
from pathlib import Path

import pytest

from plumbing import config_table
from plumbing.options import Options

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_page_tables_match_the_declarations():
    """Fails when an option is added, renamed or its default, variable or range changes without the page."""
    page = PAGE.read_text(encoding="utf-8")
    assert page == config_table.replace_section(page, config_table.render()), (
        "docs/configuration.md is stale: run `python -m plumbing.config_table --write`"
    )


def test_a_changed_default_makes_the_check_fail(monkeypatch: pytest.MonkeyPatch, capsys):
    """The check can fail: a different default in one declaration is a different page."""
    from sandbox import options

    changed = Options(options.OPTIONS.title, tuple(
        replace(o, default=8081) if o.dest == "port" else o for o in options.OPTIONS))  # fmt: skip
    monkeypatch.setattr(options, "OPTIONS", changed)
    assert config_table.main(["--check", "--page", str(PAGE)]) == 1
    assert "disagrees with the option declarations" in capsys.readouterr().err


def test_every_declared_option_is_in_the_page():
    page = PAGE.read_text(encoding="utf-8")
    for _, reference in config_table.SUITE:
        for option in config_table._load(reference):
            assert f"| `{option.flag}` |" in page, option.flag


def test_every_declaration_table_is_in_the_page():
    """A module-level ``NAME = Options(...)`` that config_table.SUITE does not list would never reach the
    page (nor the check above): each one is listed."""
    import ast

    root = PAGE.parents[1]
    packages = ("analysis", "cio_contract", "deploy", "httpserver", "locustfiles", "pipeline", "plumbing",
                "runs", "sandbox")  # fmt: skip
    declared = set()
    for package in packages:
        for path in (root / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if "Options(" not in text:
                continue
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            for node in ast.parse(text).body:
                value = node.value if isinstance(node, ast.Assign) else None
                if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "Options":
                    declared |= {f"{module}:{t.id}" for t in node.targets if isinstance(t, ast.Name)}
    assert declared == {reference for _, reference in config_table.SUITE}
