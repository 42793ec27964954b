"""Read the files Locust 2.x writes (``--csv``, ``--csv-full-history``, ``--json-file``) into tidy frames.

Locust's output is an external contract, so every quirk is handled here and nowhere else:
the ``Aggregated`` totals row (empty ``Type``), ``N/A`` percentiles for entries without
requests, zeros written as "current" percentiles before the 10 s window has filled, the
``First Seen``/``Last Seen`` columns added to ``_failures.csv`` in 2.44, and a last history row
cut short when Locust was killed mid-write.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd

from analysis.errors import InputError

__all__ = [
    "AGGREGATED",
    "HISTORY_SOURCES",
    "PERCENTILES",
    "read_exceptions",
    "read_failures",
    "read_history",
    "read_json_totals",
    "read_stats",
]

AGGREGATED = "Aggregated"
# Locust's column label -> our tidy column name, in report order.
PERCENTILES: dict[str, str] = {
    "50%": "p50",
    "66%": "p66",
    "75%": "p75",
    "80%": "p80",
    "90%": "p90",
    "95%": "p95",
    "98%": "p98",
    "99%": "p99",
    "99.9%": "p99.9",
    "99.99%": "p99.99",
    "100%": "p100",
}
_STATS_COLUMNS = {
    "Request Count": "requests",
    "Failure Count": "failures",
    "Median Response Time": "median_ms",
    "Average Response Time": "avg_ms",
    "Min Response Time": "min_ms",
    "Max Response Time": "max_ms",
    "Average Content Size": "avg_bytes",
    "Requests/s": "rps",
    "Failures/s": "fail_rps",
}
_HISTORY_COLUMNS = {
    "Timestamp": "timestamp",
    "User Count": "users",
    "Requests/s": "rps_window",
    "Failures/s": "fail_rps_window",
    "Total Request Count": "total_requests",
    "Total Failure Count": "total_failures",
}
_NA = ["N/A", ""]


def endpoint_label(method: Any, name: Any) -> str:
    """``"GET /ok"``; the totals row is just ``"Aggregated"``."""
    method = "" if method is None or (isinstance(method, float) and np.isnan(method)) else str(method)
    return f"{method} {name}".strip() if method else str(name)


def _read_csv(path: Path, required: list[str], what: str, **kwargs: Any) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(path, f"file not found; expected Locust's {what}")
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=_NA, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputError(path, f"file is empty; expected Locust's {what} with a header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise InputError(path, f"cannot parse as Locust's {what} ({detail})") from None
    # With usecols the frame holds only the parsed columns; the file must still have them all.
    present = set(sniff_header(path) if "usecols" in kwargs else frame.columns)
    missing = [c for c in required if c not in present]
    if missing:
        raise InputError(
            path,
            f"not Locust's {what}: missing column(s) {', '.join(missing)}; "
            "pass the files written by `locust --csv PREFIX` (Locust 2.x)",
        )
    return frame


def _numeric(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    """Coerce columns to numbers, naming the first bad cell instead of failing later."""
    for col in columns:
        if pd.api.types.is_numeric_dtype(frame[col]):
            continue
        converted = pd.to_numeric(frame[col], errors="coerce")
        bad = converted.isna() & frame[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # 1-based, after the header
            raise InputError(
                path, f"line {row}: column {col!r} has {frame[col][bad].iloc[0]!r}, not a number"
            )
        frame[col] = converted


def read_stats(path: Path) -> pd.DataFrame:
    """``PREFIX_stats.csv`` -> one row per endpoint plus ``Aggregated``, as Locust last wrote it."""
    required = ["Type", "Name", *_STATS_COLUMNS, *PERCENTILES]
    raw = _read_csv(path, required, "_stats.csv", dtype={"Type": str, "Name": str})
    _numeric(raw, [*_STATS_COLUMNS, *PERCENTILES], path)
    incomplete = raw[list(_STATS_COLUMNS)].isna().any(axis=1)
    if incomplete.any():
        line = int(np.flatnonzero(incomplete.to_numpy())[0]) + 2
        raise InputError(path, f"line {line} is incomplete (file truncated?); re-run or copy it again")
    if not (raw["Name"] == AGGREGATED).any():
        raise InputError(path, "no 'Aggregated' row (file truncated?); Locust always writes one last")
    frame = pd.DataFrame(
        {
            "endpoint": [endpoint_label(m, n) for m, n in zip(raw["Type"], raw["Name"], strict=True)],
            "method": raw["Type"].fillna("").astype(str),
            "name": raw["Name"].astype(str),
        }
    )
    for src, dst in {**_STATS_COLUMNS, **PERCENTILES}.items():
        frame[dst] = raw[src].astype("float64")
    frame["requests"] = frame["requests"].astype("int64")
    frame["failures"] = frame["failures"].astype("int64")
    return frame


# Tidy history column -> Locust's label, for the columns a caller may leave out.
HISTORY_SOURCES: dict[str, str] = {
    **{dst: src for src, dst in _HISTORY_COLUMNS.items() if dst != "timestamp"},
    **{dst: src for src, dst in PERCENTILES.items()},
}
_ALWAYS = ["Timestamp", "User Count", "Total Request Count", "Total Failure Count"]
_UNFILLED = "100%"  # read whenever a percentile is: it tells an unfilled window from a 0 ms one


def read_history(path: Path, columns: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """``PREFIX_stats_history.csv`` -> long frame, one row per (second, endpoint).

    ``columns``: the tidy columns wanted besides ``timestamp`` and ``endpoint`` (any of
    :data:`HISTORY_SOURCES`), default all. The file must still have every column Locust writes;
    only the wanted ones are parsed (a 24 h soak's history is ~1M rows of 22 columns).

    Returns the frame and notes for the report (dropped truncated rows). Percentile columns
    are NaN where Locust had no window data yet (it writes 0 for every percentile then).
    """
    wanted = list(HISTORY_SOURCES) if columns is None else list(columns)
    unknown = [c for c in wanted if c not in HISTORY_SOURCES]
    if unknown:
        raise ValueError(f"not history columns: {unknown}; choose from {list(HISTORY_SOURCES)}")
    required = list(_HISTORY_COLUMNS) + list(PERCENTILES) + ["Type", "Name"]
    # The integer counters are always parsed (cheap): a row missing one was cut short mid-write.
    sources = list(dict.fromkeys([*_ALWAYS, *(HISTORY_SOURCES[c] for c in wanted)]))
    if any(c in PERCENTILES.values() for c in wanted) and _UNFILLED not in sources:
        sources.append(_UNFILLED)
    names = [*sources, "Type", "Name"]
    counters = [c for c in _HISTORY_COLUMNS if c in sources]
    raw = _read_history_arrow(path, required, names, counters)
    if raw is None:  # not clean: the pandas reader below names the first bad line or column
        dtype: dict[str, Any] = {"Type": "category", "Name": "category"}
        dtype.update({c: "float64" for c in (*PERCENTILES, "Requests/s", "Failures/s") if c in names})
        raw = _read_csv(path, required, "_stats_history.csv", usecols=lambda c: c in names, dtype=dtype)
        _numeric(raw, counters, path)
    notes: list[str] = []
    incomplete = raw[counters].isna().any(axis=1)
    if incomplete.any():
        if not incomplete.iloc[:-1].any():
            notes.append(f"{path.name}: dropped an incomplete last row (Locust stopped mid-write)")
            raw = raw[~incomplete]
        else:
            line = int(np.flatnonzero(incomplete.to_numpy())[0]) + 2
            raise InputError(path, f"line {line} is incomplete; the file is damaged, re-run the test")
    return _tidy_history(raw, wanted), notes


def _read_history_arrow(
    path: Path, required: list[str], names: list[str], counters: list[str]
) -> pd.DataFrame | None:
    """The history with pyarrow's multi-threaded CSV reader, or None when the file is not clean.

    A 24 h soak's history is ~1M rows: this parse is the report's largest single cost, and pyarrow
    reads only the wanted columns, typed, on every core (about 0.6x the time of pandas' C reader).
    Any irregularity (missing column, bad number, a short last row) returns None so that the
    pandas path, which explains each problem by line, handles it.
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
    except ImportError:  # pragma: no cover - pyarrow is a dependency; keep working without it
        return None
    if not path.is_file() or set(required) - set(sniff_header(path)):
        return None
    label = pa.dictionary(pa.int32(), pa.string())
    types = {n: pa.float64() for n in names} | {"Type": label, "Name": label}
    types |= {
        n: pa.int64() for n in ("Timestamp", "User Count", "Total Request Count", "Total Failure Count")
    }
    try:
        table = pa_csv.read_csv(
            path,
            convert_options=pa_csv.ConvertOptions(
                include_columns=names, column_types=types, null_values=_NA, strings_can_be_null=True
            ),
        )
    except (pa.ArrowInvalid, OSError):
        return None
    if any(table.column(c).null_count for c in counters):
        return None
    # Column by column, each freed once converted: the table and the frame are never both whole.
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    pa.default_memory_pool().release_unused()  # the parser's buffers, which the pool would keep
    return frame


def _endpoint_codes(raw: pd.DataFrame) -> pd.Categorical:
    """``Type``+``Name`` -> categorical label, joining strings once per distinct pair, not per row."""
    method = raw["Type"].astype("category")
    name = raw["Name"].astype("category")
    width = len(name.cat.categories) + 1
    # Codes are -1 for a missing value (the Aggregated row has no Type); shift them to 0.
    pair = (method.cat.codes.to_numpy().astype("int64") + 1) * width + name.cat.codes.to_numpy() + 1
    codes, uniques = pd.factorize(pair)
    methods = ["", *map(str, method.cat.categories)]
    names = ["", *map(str, name.cat.categories)]
    labels = pd.Index([endpoint_label(methods[u // width], names[u % width]) for u in uniques])
    categories = labels.unique()
    return pd.Categorical.from_codes(categories.get_indexer(labels)[codes], categories=categories)


def _tidy_history(raw: pd.DataFrame, wanted: list[str]) -> pd.DataFrame:
    columns: dict[str, Any] = {
        "timestamp": raw["Timestamp"].astype("int64").to_numpy(),
        "endpoint": _endpoint_codes(raw),
    }
    # Locust writes int(None or 0) for every percentile before its window fills: not a 0 ms latency.
    unfilled = raw[_UNFILLED].to_numpy() == 0 if _UNFILLED in raw.columns else None
    integers = {"users", "total_requests", "total_failures"}
    for dst in HISTORY_SOURCES:  # in Locust's order, whatever the order asked for
        if dst not in wanted:
            continue
        values = raw[HISTORY_SOURCES[dst]]
        if dst in integers:
            columns[dst] = values.astype("int64").to_numpy()
        elif dst in PERCENTILES.values():
            column = values.to_numpy(dtype="float64", copy=True)
            column[unfilled] = np.nan
            columns[dst] = column
        else:
            columns[dst] = values.to_numpy()
    return pd.DataFrame(columns)


def read_failures(path: Path) -> pd.DataFrame:
    """``PREFIX_failures.csv`` -> endpoint, error, occurrences, first_seen, last_seen (UTC, or NaT
    for Locust < 2.44 which has no such columns)."""
    raw = _read_csv(path, ["Method", "Name", "Error", "Occurrences"], "_failures.csv", dtype=str)
    _numeric(raw, ["Occurrences"], path)
    frame = pd.DataFrame(
        {
            "endpoint": [endpoint_label(m, n) for m, n in zip(raw["Method"], raw["Name"], strict=True)],
            "error": raw["Error"].fillna("").astype(str),
            "occurrences": raw["Occurrences"].fillna(0).astype("int64"),
        }
    )
    for src, dst in (("First Seen", "first_seen"), ("Last Seen", "last_seen")):
        values = raw[src] if src in raw.columns else pd.Series([None] * len(raw), dtype=object)
        frame[dst] = pd.to_datetime(values.reset_index(drop=True), utc=True, errors="coerce")
    return frame


def read_exceptions(path: Path) -> pd.DataFrame:
    """``PREFIX_exceptions.csv`` -> count, message, traceback, nodes (errors raised in user code)."""
    raw = _read_csv(path, ["Count", "Message"], "_exceptions.csv", dtype=str)
    _numeric(raw, ["Count"], path)
    return pd.DataFrame(
        {
            "count": raw["Count"].fillna(0).astype("int64"),
            "message": raw["Message"].fillna("").astype(str),
            "traceback": raw.get("Traceback", pd.Series([""] * len(raw))).fillna("").astype(str),
            "nodes": raw.get("Nodes", pd.Series([""] * len(raw))).fillna("").astype(str),
        }
    )


class _JsonEntry(msgspec.Struct):
    """The fields of a ``--json-file`` entry the totals use. Decoding into it skips the rest
    unread: ``num_reqs_per_sec`` holds a key per second of the run (86,400 in a day's soak), which
    a general JSON parser would build into dicts only to drop them (~20x the time of the totals)."""

    name: Any = msgspec.UNSET
    method: Any = msgspec.UNSET
    num_requests: Any = msgspec.UNSET
    num_failures: Any = msgspec.UNSET
    total_response_time: Any = msgspec.UNSET
    min_response_time: Any = msgspec.UNSET
    max_response_time: Any = msgspec.UNSET
    start_time: Any = msgspec.UNSET
    last_request_timestamp: Any = msgspec.UNSET
    total_content_length: Any = msgspec.UNSET
    response_times: Any = msgspec.UNSET


_JSON_ENTRIES = msgspec.json.Decoder(list[_JsonEntry])


def read_json_totals(path: Path) -> tuple[pd.DataFrame, dict[str, dict[int, int]]]:
    """``--json-file`` output -> final totals per endpoint and each endpoint's latency histogram.

    Locust writes this once at exit from its in-memory stats, so unlike ``_stats.csv`` (written
    once a second) these are the run's final figures.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    try:
        decoded = _JSON_ENTRIES.decode(data)
    except msgspec.DecodeError:
        try:  # the typed decoder stops at the first unexpected token: is it JSON at all?
            msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise InputError(path, f"not valid JSON ({exc}); expected Locust's --json-file output") from None
        raise InputError(
            path, "expected a JSON list of stats entries as Locust's --json-file writes"
        ) from None
    entries = [
        {f: v for f in _JsonEntry.__struct_fields__ if (v := getattr(e, f)) is not msgspec.UNSET}
        for e in decoded
    ]
    rows, histograms = [], {}
    for i, entry in enumerate(entries):
        try:
            label = endpoint_label(entry.get("method"), entry["name"])
            rows.append(
                {
                    "endpoint": label,
                    "requests": int(entry["num_requests"]),
                    "failures": int(entry["num_failures"]),
                    "total_ms": float(entry["total_response_time"]),
                    "min_ms": float(entry.get("min_response_time") or 0.0),
                    "max_ms": float(entry.get("max_response_time") or 0.0),
                    "start": float(entry["start_time"]),
                    "last": float(entry.get("last_request_timestamp") or entry["start_time"]),
                    "bytes": float(entry.get("total_content_length") or 0.0),
                }
            )
            histograms[label] = {int(float(k)): int(v) for k, v in entry.get("response_times", {}).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                path, f"entry {i} lacks a valid {exc} field; expected Locust's --json-file output"
            ) from None
    columns = ["endpoint", "requests", "failures", "total_ms", "min_ms", "max_ms", "start", "last", "bytes"]
    return pd.DataFrame(rows, columns=columns), histograms


def sniff_header(path: Path) -> list[str]:
    """First row of a CSV, for telling the user what a foreign file looks like."""
    with path.open(newline="", errors="replace") as fh:
        return next(csv.reader(fh), [])
