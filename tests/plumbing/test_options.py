"""plumbing.options: one declaration gives the flag, env var, default, help, range and precedence."""

from __future__ import annotations

import pytest

from plumbing.errors import OptionError
from plumbing.options import Option, Options, Parser, check_host_ports

TABLE = Options(
    "demo",
    (
        Option("--rate", 100.0, "requests per second", type=float, env="DEMO_RATE", low=0, low_open=True),
        Option(
            "--share", 0.1, "share kept free", type=float, env="DEMO_SHARE", low=0, high=1, high_open=True
        ),
        Option("--count", 3, "how many", type=int, env="DEMO_COUNT", low=1),
        Option("--url", "http://127.0.0.1:1", "where", env="DEMO_URL", schemes=("http", "https")),
        Option("--item", [], "repeatable", env="DEMO_ITEMS", kind="list"),
        Option("--on", False, "a flag", env="DEMO_ON", kind="flag"),
    ),
)


def _values(argv, env=None, file_text=None, tmp_path=None):
    parser = Parser(prog="demo")
    TABLE.add_to(parser)
    if file_text is not None:
        conf = tmp_path / "demo.conf"
        conf.write_text(file_text)
        argv = ["--config", str(conf), *argv]
    return TABLE.values(parser.parse_checked(argv, env or {}), env or {})


def test_defaults_come_from_the_declaration():
    assert _values([]) == {"rate": 100.0, "share": 0.1, "count": 3, "url": "http://127.0.0.1:1",
                           "item": [], "on": False}  # fmt: skip


def test_command_line_beats_environment_beats_file_beats_default(tmp_path):
    text = "rate = 10\nshare = 0.3\ncount = 7\n"
    env = {"DEMO_RATE": "20", "DEMO_SHARE": "0.2"}
    values = _values(["--rate", "30"], env, text, tmp_path)
    assert (values["rate"], values["share"], values["count"]) == (30.0, 0.2, 7)


def test_a_list_takes_the_variables_entries_then_the_command_lines():
    assert _values(["--item", "c"], {"DEMO_ITEMS": "a, b"})["item"] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--rate", "0"], {}, "--rate must be greater than 0 (got 0)"),
        ([], {"DEMO_RATE": "-1"}, "--rate must be greater than 0 (got -1)"),
        (["--share", "1"], {}, "--share must be below 1 (got 1)"),
        (["--share", "-0.5"], {}, "--share must not be negative (got -0.5)"),
        (["--count", "0"], {}, "--count must be at least 1 (got 0)"),
        (["--url", "notaurl"], {}, "--url 'notaurl': not a http/https URL"),
        (["--url", "http://"], {}, "--url 'http://': has no host"),
        (["--rate", "nan"], {}, "--rate must be a number"),
    ],
)
def test_a_value_out_of_range_names_the_option(argv, env, message):
    with pytest.raises(OptionError) as caught:
        _values(argv, env)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_parser_errors_are_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as caught:
        _values(["--count", "many"])
    err = capsys.readouterr().err
    assert caught.value.code == 2 and err.count("\n") == 1 and "--count" in err and "usage" not in err


def test_help_shows_each_default_and_variable(capsys):
    parser = Parser(prog="demo")
    TABLE.add_to(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in TABLE:
        assert option.env in text
    assert "default: 100.0;" in text and "default: 0.1;" in text and "default: 3;" in text


def test_host_ports():
    assert check_host_ports("127.0.0.1:9092,broker:9093") is None
    assert "not HOST:PORT" in (check_host_ports("garbage") or "")
    assert "not HOST:PORT" in (check_host_ports("h:0") or "")
