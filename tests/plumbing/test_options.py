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


def _help_text(table, capsys) -> str:
    """The ``--help`` a parser built from ``table`` prints, with its line wrapping undone."""
    parser = Parser(prog="demo")
    table.add_to(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    return " ".join(capsys.readouterr().out.split())


def test_help_shows_each_default_and_variable(capsys):
    text = _help_text(TABLE, capsys)
    for option in TABLE:
        assert option.env in text
    assert "default: 100.0;" in text and "default: 0.1;" in text and "default: 3;" in text


def test_host_ports():
    assert check_host_ports("127.0.0.1:9092,broker:9093") is None
    assert "not HOST:PORT" in (check_host_ports("garbage") or "")
    assert "not HOST:PORT" in (check_host_ports("h:0") or "")


SECRETS = Options(
    "secrets",
    (
        Option("--key", "demo-key", "an API key", env="DEMO_KEY", secret=True),
        Option("--token", None, "a token", env="DEMO_TOKEN", secret=True),
        Option("--entry", [], "secret entries", env="DEMO_ENTRIES", kind="list", secret=True),
    ),
)


def _secret_values(argv, env=None):
    parser = Parser(prog="demo")
    SECRETS.add_to(parser)
    return SECRETS.values(parser.parse_checked(argv, env or {}), env or {})


def test_a_secret_comes_from_the_file_its_variable_names(tmp_path):
    """Docker's NAME_FILE convention: the value stays out of the environment (docker inspect)."""
    (tmp_path / "key").write_text("file-key-5c1\n")
    (tmp_path / "entries").write_text("a:1,b:2\nc:3\n")
    env = {"DEMO_KEY_FILE": str(tmp_path / "key"), "DEMO_ENTRIES_FILE": str(tmp_path / "entries"),
           "DEMO_ENTRIES": "z:0"}  # fmt: skip
    values = _secret_values(["--entry", "d:4"], env)
    assert values == {"key": "file-key-5c1", "token": None, "entry": ["z:0", "a:1", "b:2", "c:3", "d:4"]}
    assert _secret_values(["--token-file", str(tmp_path / "key")])["token"] == "file-key-5c1"


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        (None, {}, "--key-file {path} ($DEMO_KEY_FILE): cannot read it (No such file or directory)"),
        (b"", {}, "--key-file {path} ($DEMO_KEY_FILE): the file is empty"),
        (b"  \n", {}, "the file is empty"),
        (b"\xff\xfe", {}, "not UTF-8 text"),
        (b"k" * 70_000, {}, "larger than 64 KiB"),
        (b"file-key-5c1", {"DEMO_KEY": "env-key-77e"}, "--key and --key-file are both set"),
    ],
)
def test_an_unusable_secret_file_is_one_line_naming_it_never_the_value(tmp_path, content, env, message):
    path = tmp_path / "key"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(OptionError) as caught:
        _secret_values([], {**env, "DEMO_KEY_FILE": str(path)})
    text = str(caught.value)
    assert message.format(path=path) in text and "\n" not in text, text
    assert "file-key-5c1" not in text and "env-key-77e" not in text


def test_a_directory_as_secret_file_names_it(tmp_path):
    with pytest.raises(OptionError, match="--token-file .*: cannot read it"):
        _secret_values(["--token-file", str(tmp_path)])


def test_help_names_the_file_variants_and_no_secret_default(capsys):
    text = _help_text(SECRETS, capsys)
    assert "--key-file FILE" in text and "DEMO_KEY_FILE" in text and "DEMO_ENTRIES_FILE" in text
    assert "demo-key" not in text
