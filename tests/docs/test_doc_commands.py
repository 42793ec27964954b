"""Every command shown in the docs' shell blocks parses: the program's own parser reads its arguments,
then it stops before doing anything (``--help``-level validation, nothing is started)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHELL_BLOCK = re.compile(r"```(sh|bash|shell|console)?\n(.*?)```", re.S)
COMMAND = re.compile(r"^(?:\$ )?(?:\.venv/bin/)?(python -m \S+|locust|make)\b")

# One interpreter checks a list of commands (JSON on stdin), each as ``python -m`` or ``locust`` would
# run it, except that the first parse_args() that succeeds stops it (SystemExit 0) and a bad argument
# stops it with argparse's own exit 2 and message: nothing runs. Prints [ok, last stderr line] per command.
_PARSE_ONLY = """
import argparse, contextlib, io, json, runpy, sys
_parse = argparse.ArgumentParser.parse_args
def _parse_then_stop(self, *args, **kwargs):
    _parse(self, *args, **kwargs)
    raise SystemExit(0)
argparse.ArgumentParser.parse_args = _parse_then_stop
import configargparse  # Locust's parser and plumbing.options: a subclass with its own parse_args
_parse_config = configargparse.ArgumentParser.parse_args
def _config_parse_then_stop(self, *args, **kwargs):
    _parse_config(self, *args, **kwargs)
    raise SystemExit(0)
configargparse.ArgumentParser.parse_args = _config_parse_then_stop

def check(words):
    if words[0] == "locust":
        import locustfiles.locustfile  # registers the suite's options, as `locust -f` does
        from locust.argument_parser import parse_options
        return lambda: parse_options(words[1:])
    sys.argv = words[2:]
    def run():
        runpy.run_module(words[2], run_name="__main__", alter_sys=True)
        sys.exit(f"{words[2]} finished without ArgumentParser.parse_args: it cannot be checked this way")
    return run

results = []
for words in json.load(sys.stdin):
    said = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
        try:
            check(words)()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
            if not isinstance(exc.code, int | None):
                print(exc.code, file=sys.stderr)
    results.append([code in (0, None), (said.getvalue().strip().splitlines() or ["ok"])[-1]])
print(json.dumps(results))
"""


def shell_commands(text: str) -> list[str]:
    """The python -m / locust / make commands of a page's shell blocks (continuations joined)."""
    commands = []
    for lang, body in SHELL_BLOCK.findall(text):
        for line in body.replace("\\\n", " ").splitlines():
            line = line.strip()
            if not lang and not line.startswith("$ "):
                continue  # an untyped block is output or a synopsis unless it shows a prompt
            for part in re.split(r"\s(?:&&|\|\||;)\s", line):
                part = re.sub(r"\s+#.*$", "", part.strip()).removeprefix("$ ")
                if COMMAND.match(part.removeprefix(".venv/bin/")):
                    commands.append(part)
    return commands


def check_commands(commands: list[str]) -> list[tuple[bool, str]]:
    """(parses, what the parser said) for each documented command; nothing is executed."""
    targets = set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), flags=re.M))
    results: dict[int, tuple[bool, str]] = {}
    parsed: list[tuple[int, list[str]]] = []
    for index, command in enumerate(commands):
        words = [w for w in shlex.split(command.removeprefix(".venv/bin/")) if w not in ("...", "…")]
        if words[0] == "make":
            missing = [w for w in words[1:] if w not in targets]
            results[index] = (not missing, f"no Makefile target {missing}" if missing else "ok")
        else:
            parsed.append((index, words))
    if parsed:
        done = subprocess.run(
            [sys.executable, "-c", _PARSE_ONLY], cwd=ROOT, input=json.dumps([w for _, w in parsed]),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        for (index, _), (ok, said) in zip(parsed, json.loads(done.stdout.splitlines()[-1]), strict=True):
            results[index] = (ok, said)
    return [results[i] for i in range(len(commands))]


def _all_commands() -> list[tuple[str, str]]:
    return [
        (page.relative_to(ROOT).as_posix(), cmd) for page in PAGES for cmd in shell_commands(page.read_text())
    ]


def test_the_docs_show_commands_to_check() -> None:
    pages = {page for page, _ in _all_commands()}
    assert {"README.md", "docs/sandbox.md", "docs/pipeline.md", "docs/capacity.md"} <= pages


def test_every_documented_command_parses() -> None:
    commands = _all_commands()
    checked = check_commands([command for _, command in commands])
    broken = [
        f"{page}: {cmd}\n    -> {said}"
        for (page, cmd), (ok, said) in zip(commands, checked, strict=True)
        if not ok
    ]
    assert not broken, "documented commands that do not parse:\n" + "\n".join(broken)


BROKEN = [
    ("python -m runs nope", "invalid choice: 'nope'"),
    ("python -m sandbox --rate-mode sometimes", "invalid choice: 'sometimes'"),
    ("locust -f locustfiles/locustfile.py --metrics-url ftp://x", "is not an http(s) URL"),
    ("make deploy-everything", "no Makefile target ['deploy-everything']"),
    ("python -m runs demo --no-such-option", "unrecognized arguments: --no-such-option"),
]


def test_broken_commands_are_caught() -> None:
    checked = check_commands([command for command, _ in BROKEN])
    for (command, message), (ok, said) in zip(BROKEN, checked, strict=True):
        assert not ok and message in said, f"{command}: {said}"
