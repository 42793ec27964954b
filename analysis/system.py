"""Read ``system_history.csv``: target-side series (sandbox, pipeline) sampled once a second."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.errors import InputError
from plumbing.history import SYSTEM_COLUMNS

__all__ = ["SYSTEM_COLUMNS", "read_system_history"]


def read_system_history(path: Path) -> pd.DataFrame:
    """One row per second: ``timestamp`` (unix s) plus whichever known series the file has.

    Unknown extra columns are kept (the sampler may grow); known ones missing from the file are
    added as all-NaN so charts can test ``.notna().any()`` uniformly.
    """
    try:
        frame = pd.read_csv(path, na_values=[""], keep_default_na=False)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except pd.errors.EmptyDataError:
        raise InputError(path, "file is empty; expected a header row starting with 'timestamp'") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot parse as CSV ({str(exc).strip().splitlines()[-1]})") from None
    if "timestamp" not in frame.columns:
        raise InputError(path, "no 'timestamp' column; expected the monitoring sampler's system_history.csv")
    for col in frame.columns:
        converted = pd.to_numeric(frame[col], errors="coerce")
        if (converted.isna() & frame[col].notna()).any():
            raise InputError(path, f"column {col!r} holds non-numeric values")
        frame[col] = converted.astype("float64")
    frame = frame.dropna(subset=["timestamp"])
    for col in SYSTEM_COLUMNS:
        if col not in frame.columns:
            frame[col] = float("nan")
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
