"""Declare each option once: flag, type, default, environment variable, help, processes and valid range.

Every process of the suite (the traffic model, the sandbox, the pipeline services, ``runs``, the
analysis CLI, the capacity plan) registers its options from a table of :class:`Option` on a
``configargparse`` parser (for Locust: Locust's own parser, in ``events.init_command_line_parser``),
so the precedence is the same everywhere: command line > environment variable > config file >
the declared default. Help strings show the declared default through ``%(default)s``.

A secret (``secret=True``: site ids, keys, tokens) can also be read from a file, the Docker and
Kubernetes secrets convention: ``--api-key-file PATH`` or ``CIO_API_KEY_FILE=/run/secrets/...``
(the variable's name plus ``_FILE``), so the value itself never sits in a container's environment
(``docker inspect``, ``kubectl describe``). A file that cannot be read is an :class:`OptionError`
naming it; the value is never shown.

Values are converted by the parser (``type``) and checked against the declared range or URL schemes
when the process builds its one frozen settings object (:meth:`Options.values`): values reach a
process from the command line, the environment, a config file or Locust's web UI, and all of them
pass through that check. A bad value is an :class:`plumbing.errors.OptionError` naming the option.

:func:`markdown_table` renders declarations as the configuration reference (``docs/configuration.md``,
kept in step with them by a test).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlsplit

import configargparse

from plumbing.errors import OptionError

__all__ = [
    "Option",
    "Options",
    "Parser",
    "check_host_ports",
    "check_parses",
    "declarer",
    "markdown_table",
    "report",
]

Check = Callable[[Any], str | None]
"""Extra validation: returns what is wrong with a value (to follow the flag), or None."""


@dataclass(frozen=True)
class Option:
    """One option of one or more processes, declared once."""

    flag: str
    """``--rate-limit``; the settings key is ``rate_limit``."""
    default: Any
    help: str
    """What it is; ``(default: %(default)s)`` is added unless the option is a secret or a flag."""
    type: Callable[[str], Any] = str
    env: str | None = None
    """The environment variable that sets it (after the command line, before a config file)."""
    processes: tuple[str, ...] = ()
    """Which processes take it (for the configuration table), e.g. ``("sender", "capacity")``."""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    """``low`` itself is not allowed (e.g. a rate must be greater than 0)."""
    high_open: bool = False
    schemes: tuple[str, ...] = ()
    """A URL: one of these schemes, and a host."""
    choices: tuple[str, ...] | None = None
    kind: str = "value"
    """``value``, ``flag`` (store_true) or ``list`` (repeatable)."""
    metavar: str | None = None
    secret: bool = False
    """Never shown: not in help defaults, not in the web UI, not in the table. Also read from a file:
    ``FLAG-file`` / ``ENV_FILE`` (see :attr:`file_flag`)."""
    web: bool = True
    """Shown in Locust's web UI (Locust options only)."""
    check: Check | None = None
    short: str | None = None
    dest_name: str | None = None
    was: str | None = None
    """The flag this option replaced (``--host`` for ``--bind``): given, it is one exit-2 line naming
    this option, never a silent default or "unrecognized arguments"."""
    was_env: str | None = None
    """The environment variable it replaced (``SANDBOX_HOST``): set, the same one line."""

    @property
    def dest(self) -> str:
        return self.dest_name or self.flag.lstrip("-").replace("-", "_")

    @property
    def file_flag(self) -> str | None:
        """``--api-key-file``: the file a secret is read from (None for other options)."""
        return f"{self.flag}-file" if self.secret else None

    @property
    def file_env(self) -> str | None:
        """``CIO_API_KEY_FILE``: the variable naming that file (Docker's ``NAME_FILE`` convention)."""
        return f"{self.env}_FILE" if self.secret and self.env else None

    @property
    def file_dest(self) -> str:
        return f"{self.dest}_file"

    @property
    def help_text(self) -> str:
        """The help with the declared default (``%(default)s``) and the variable appended."""
        text = self.help.replace("%", "%%").replace("%%(default)s", "%(default)s")
        notes = []
        if not (
            self.secret or self.kind == "flag" or "%(default)s" in text or self.default in (None, "", [])
        ):
            notes.append("default: %(default)s")
        if self.env:
            notes.append(f"env {self.env}")
        return f"{text} ({'; '.join(notes)})" if notes else text

    def argparse_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"help": self.help_text, "dest": self.dest}
        # A repeatable option's variable adds comma-separated entries (see Options.values).
        if self.env and self.kind != "list":
            kwargs["env_var"] = self.env
        if self.kind == "flag":
            kwargs.update(action="store_true", default=bool(self.default))
            return kwargs
        kwargs.update(type=self.type, default=self.default)
        if self.kind == "list":
            kwargs["action"] = "append"
            kwargs["default"] = list(self.default or [])
        if self.choices is not None:
            kwargs["choices"] = list(self.choices)
        if self.metavar:
            kwargs["metavar"] = self.metavar
        return kwargs

    def add_to(self, parser: Any) -> Any:
        """Register on ``parser`` (an argparse/configargparse parser or argument group); a secret's
        ``FLAG-file`` too. Returns the option's own action."""
        flags = [self.short, self.flag] if self.short else [self.flag]
        if self.was:
            # Hidden; a config file's old key reaches it too (configargparse maps keys to flags).
            parser.add_argument(self.was, action=_Replaced, nargs="?", help=argparse.SUPPRESS,
                                dest=f"_was_{self.dest}", replacement=self.replaced_text())  # fmt: skip
        action = parser.add_argument(*flags, **self.argparse_kwargs())
        if self.file_flag:
            what = "entries of " if self.kind == "list" else ""
            kwargs = {"env_var": self.file_env} if self.file_env else {}
            note = f" (env {self.file_env})" if self.file_env else ""
            parser.add_argument(
                self.file_flag, default=None, dest=self.file_dest, metavar="FILE",
                help=f"read the {what}{self.flag} value from FILE, e.g. a mounted Docker or Kubernetes "
                f"secret{note}", **kwargs,
            )  # fmt: skip
        return action

    def value_from(self, namespace: Any, environ: Mapping[str, str] | None = None) -> Any:
        """The unchecked value in a parsed namespace (Locust's or ours), with a repeatable option's
        variable entries first and a secret's file read. Raises OptionError for an unusable file."""
        environ = os.environ if environ is None else environ
        value = getattr(namespace, self.dest, self.default)
        path = getattr(namespace, self.file_dest, None) if self.secret else None
        if self.kind == "list":
            from_env = environ.get(self.env, "") if self.env else ""
            entries = [e for e in from_env.split(",") if e.strip()]
            # A file adds entries like the variable does: comma- or newline-separated.
            if path:
                entries += [
                    e for line in self._read_file(path).splitlines() for e in line.split(",") if e.strip()
                ]
            return [_convert(self, e.strip(), f"${self.env}") for e in entries] + list(value or [])
        if not path:
            return value
        if value != self.default:
            raise OptionError(
                f"{self.flag} and {self.file_flag} are both set ({self._names()}): give the value or the "
                "file, not both"
            )
        return _convert(self, self._read_file(path), f"{self.file_flag} {path}")

    def _names(self) -> str:
        return f"${self.env} / ${self.file_env}" if self.env else f"{self.flag} / {self.file_flag}"

    def _read_file(self, path: str) -> str:
        where = f"{self.file_flag} {path}" + (f" (${self.file_env})" if self.file_env else "")
        try:
            with open(path, "rb") as handle:
                data = handle.read(_SECRET_FILE_BYTES + 1)
        except OSError as exc:
            raise OptionError(
                f"{where}: cannot read it ({exc.strerror or exc}); check the path and that the secret is "
                "mounted readable for this user"
            ) from None
        if len(data) > _SECRET_FILE_BYTES:
            raise OptionError(
                f"{where}: larger than {_SECRET_FILE_BYTES // 1024} KiB; give a file holding only the secret"
            )
        try:
            text = data.decode().strip()
        except UnicodeDecodeError:
            raise OptionError(f"{where}: not UTF-8 text; give a file holding only the secret") from None
        if not text:
            raise OptionError(f"{where}: the file is empty; write the secret into it")
        return text

    def replaced_text(self, old: str | None = None) -> str:
        """The one line for the old spelling: what replaced it, and that it means something else now."""
        old = old or self.was
        what = self.help.replace(":", ";").split(";")[0]
        return f"{old} was renamed {self.flag} ({what}); give {self.flag}" + (
            f" or {self.env}" if self.env else ""
        )

    def replaced_problem(self, environ: Mapping[str, str]) -> str | None:
        """The one line when the replaced environment variable is still set, else None."""
        if self.was_env and environ.get(self.was_env):
            return self.replaced_text(f"${self.was_env}")
        return None

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` (a message starting with the flag), or None."""
        if value is None or self.kind == "flag":
            return None
        if self.kind == "list":
            return next((p for p in (self._one(v) for v in value) if p), None)
        return self._one(value)

    def _one(self, value: Any) -> str | None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            message = self._range(value)
            if message:
                return f"{self.flag} {message} (got {value:g})"
        if self.schemes and isinstance(value, str) and value:
            message = _url_problem(value, self.schemes)
            if message:
                return f"{self.flag} {value!r}: {message}"
        if self.check is not None:
            message = self.check(value)
            if message:
                return f"{self.flag} {message}"
        return None

    def _range(self, value: float) -> str | None:
        if isinstance(value, float) and math.isnan(value):
            return "must be a number"
        low, high = self.low, self.high
        too_low = low is not None and (value <= low if self.low_open else value < low)
        too_high = high is not None and (value >= high if self.high_open else value > high)
        if not (too_low or too_high):
            return None
        if low is not None and high is not None and not (self.low_open or self.high_open):
            return f"must be between {low:g} and {high:g}"
        if too_low and low is not None:
            if self.low_open:
                return f"must be greater than {low:g}"
            return "must not be negative" if low == 0 else f"must be at least {low:g}"
        assert high is not None
        return f"must be below {high:g}" if self.high_open else f"must be at most {high:g}"

    def range_text(self) -> str:
        """The valid values, for the configuration table."""
        if self.choices:
            return " / ".join(self.choices)
        if self.schemes:
            return " or ".join(f"{s}://" for s in self.schemes) + " URL"
        low = None if self.low is None else f"{'>' if self.low_open else '≥'} {_number(self.low)}"
        high = None if self.high is None else f"{'<' if self.high_open else '≤'} {_number(self.high)}"
        return ", ".join(p for p in (low, high) if p)


class _Replaced(argparse.Action):
    """A replaced flag: one line naming its replacement, exit 2 (through ``parser.error``)."""

    def __init__(self, *args: Any, replacement: str, **kwargs: Any) -> None:
        self.replacement = replacement
        super().__init__(*args, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> None:
        parser.error(self.replacement)


_SECRET_FILE_BYTES = 64 * 1024
"""A secret file holds one key or a few workspace entries: anything bigger is the wrong file."""


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _url_problem(value: str, schemes: tuple[str, ...]) -> str | None:
    example = (
        f"{schemes[0]}://127.0.0.1:8080" if schemes[0].startswith("http") else f"{schemes[0]}://127.0.0.1"
    )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return f"not a valid URL; give e.g. {example}"
    if parts.scheme not in schemes:
        return f"not a {'/'.join(schemes)} URL; give e.g. {example}"
    if not parts.hostname and parts.scheme != "unix":
        return f"has no host; give e.g. {example}"
    if port == 0:
        return f"port 0 cannot be reached; give e.g. {example}"
    return None


def declarer(env_prefix: str, processes: tuple[str, ...]) -> Callable[..., Option]:
    """``Option`` with ``env=PREFIX + FLAG_NAME`` and ``processes`` filled in (``env=`` still overrides)."""

    def declare(flag: str, default: Any, help: str, **kwargs: Any) -> Option:
        kwargs.setdefault("env", env_prefix + flag.lstrip("-").upper().replace("-", "_"))
        kwargs.setdefault("processes", processes)
        return Option(flag, default, help, **kwargs)

    return declare


def check_parses(parse: Callable[[str], object]) -> Check:
    """A check that ``parse(value)`` accepts the value; its ValueError's text is the problem."""

    def problem(value: Any) -> str | None:
        try:
            parse(str(value))
        except ValueError as exc:
            return str(exc)
        return None

    return problem


def check_host_ports(value: Any) -> str | None:
    """``HOST:PORT[,HOST:PORT...]`` (Kafka bootstrap servers)."""
    for entry in str(value).split(","):
        host, sep, port = entry.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            return (
                f"{entry.strip()!r} is not HOST:PORT; give e.g. 127.0.0.1:9092 (comma-separated for several)"
            )
    return None


@dataclass(frozen=True)
class Options:
    """The declared options of one process (or of a group of them), in help order."""

    title: str
    options: tuple[Option, ...]
    description: str = ""
    _by_dest: dict[str, Option] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_dest", {o.dest: o for o in self.options})

    def __iter__(self) -> Iterator[Option]:
        return iter(self.options)

    def __getitem__(self, dest: str) -> Option:
        return self._by_dest[dest]

    def default(self, dest: str) -> Any:
        """The declared default of ``dest`` (for code that needs it without parsing)."""
        return self._by_dest[dest].default

    def only(self, process: str) -> Options:
        """The options ``process`` takes."""
        return Options(self.title, tuple(o for o in self.options if process in o.processes), self.description)

    def add_to(self, parser: Any, group: bool = True) -> list[Any]:
        """Register every option (in an argument group titled ``title`` unless ``group`` is false)."""
        target = parser.add_argument_group(self.title, self.description or None) if group else parser
        return [option.add_to(target) for option in self.options]

    def values(self, namespace: Any, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The checked values of these options from a parsed namespace (Locust's or ours).

        A repeatable option's variable adds its comma-separated entries before the command line's; a
        secret may come from its file (:meth:`Option.value_from`).
        """
        environ = os.environ if environ is None else environ
        values = {}
        for option in self.options:
            replaced = option.replaced_problem(environ)
            if replaced:
                raise OptionError(replaced)
            value = option.value_from(namespace, environ)
            problem = option.problem(value)
            if problem:
                raise OptionError(problem)
            values[option.dest] = value
        return values

    def refuse_replaced_keys(self, keys: Iterable[str], where: str) -> None:
        """A config file's key that names a replaced option is one line naming the replacement."""
        was = {o.was.lstrip("-").replace("-", "_"): o for o in self.options if o.was}
        for key in keys:
            option = was.get(key.replace("-", "_"))
            if option is not None:
                raise OptionError(f"{where}: {option.replaced_text(key)}")

    def set_file_values(
        self, parser: argparse.ArgumentParser, data: Mapping[str, Any], where: str, skip: Iterable[str] = ()
    ) -> None:
        """Config-file values become the parser's defaults: below the command line and environment.

        Keys in ``skip`` (structured values the caller reads itself) and unknown keys are left alone.
        """
        defaults = {}
        for key, raw in data.items():
            option = self._by_dest.get(key.replace("-", "_"))
            if option is None or key in skip:
                continue
            defaults[option.dest] = _from_file(option, raw, where)
        parser.set_defaults(**defaults)


def _from_file(option: Option, raw: Any, where: str) -> Any:
    if option.kind == "flag":
        if isinstance(raw, bool):
            return raw
        raise OptionError(f"{where}: {option.dest} must be true or false (got {raw!r})")
    if option.kind == "list":
        items = raw if isinstance(raw, list) else [raw]
        return [_convert(option, item, where) for item in items]
    return _convert(option, raw, where)


def _convert(option: Option, raw: Any, where: str) -> Any:
    shown = "(its value not shown: a secret)" if option.secret else repr(raw)
    if isinstance(raw, bool) or isinstance(raw, dict | list):
        raise OptionError(f"{where}: {option.dest} {shown} is not a single value")
    try:
        value = option.type(str(raw))
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        raise OptionError(f"{where}: {option.dest} {shown} is not a valid {_type_name(option)}") from None
    if option.choices is not None and value not in option.choices:
        raise OptionError(f"{where}: {option.dest} {shown} is not one of {', '.join(option.choices)}")
    return value


def _type_name(option: Option) -> str:
    return {int: "whole number", float: "number"}.get(option.type, "value")  # type: ignore[call-overload]


class Parser(configargparse.ArgumentParser):
    """A ``configargparse`` parser whose errors are one line, ``PROG: error: MESSAGE``, exit 2.

    ``--config FILE`` (``key = value`` lines, as in ``locust.conf``) sits below the environment.
    """

    def __init__(self, *args: Any, config_option: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("add_env_var_help", False)  # Option.help_text names the variable
        super().__init__(*args, **kwargs)
        if config_option:
            self.add_argument(
                "--config",
                is_config_file=True,
                metavar="FILE",
                help="read options from FILE, one `option = value` per line (below the environment)",
            )

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")
        raise AssertionError("exit() raises SystemExit")  # pragma: no cover

    def parse_checked(
        self, argv: Sequence[str] | None, env: Mapping[str, str] | None = None
    ) -> argparse.Namespace:
        """``parse_args`` with ``env`` as the environment; an unreadable config file is one line too."""
        try:
            return self.parse_args(argv, env_vars=os.environ if env is None else env)
        except OSError as exc:
            self.error(f"--config {exc.filename}: cannot read it ({exc.strerror}); check the path")
        except UnicodeDecodeError:
            self.error("--config: not a text file (not UTF-8); give `option = value` lines")


def report(prog: str, error: BaseException) -> int:
    """Print ``prog: error`` as one line on stderr; return the exit code for it."""
    print(f"{prog}: {' '.join(str(error).split())}", file=sys.stderr)
    return int(getattr(error, "exit_code", 2))


def markdown_table(tables: Iterable[Options]) -> str:
    """The configuration reference: one row per declared option, generated, never hand-written."""
    lines = [
        "| Option | Environment | Default | Valid | Processes | What it does |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for table in tables:
        for o in table:
            default = "(secret)" if o.secret else _cell(o.default)
            help_text = o.help.replace("%(default)s", default).replace("%%", "%").replace("|", "\\|")
            if o.was:
                help_text += f" (was `{o.was}`" + (f", `{o.was_env}`" if o.was_env else "") + ")"
            flag = f"`{o.flag}`"
            env = f"`{o.env}`" if o.env else ""
            if o.file_flag:  # a secret: its file variant too
                env += f" or `{o.file_env}`" if o.file_env else ""
                help_text += f"; or read from a file: `{o.file_flag} FILE`"
            lines.append(
                f"| {flag} | {env} | {default} | {o.range_text()} | {', '.join(o.processes)} | {help_text} |"
            )
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None or value == "" or value == [] or value == ():
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        value = ",".join(map(str, value))
    return f"`{value}`".replace("|", "\\|")
