"""The one exception the analysis package raises for input a user must fix."""

from __future__ import annotations

from pathlib import Path

from plumbing.errors import AnalysisError

__all__ = ["InputError"]


class InputError(AnalysisError):
    """Bad or missing input; the message is one line naming the file and what to do.

    Like click's ``UsageError`` it knows its own exit code, so the CLI can print it
    without a traceback while unexpected errors keep theirs.
    """

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")
