"""Request accounting: exact counters per workspace, endpoint and outcome, shared by all processes.

The stats document (``GET /__sandbox/stats``) has this shape::

    {
      "processes": 1, "uptime_s": 12.3, "store_mode": "full",
      "totals": {"requests": N, "accepted": ..., "invalid": ..., "unauthorized": ..., "rate_limited": ...,
                 "dropped": ..., "blocked": ..., "fault": ..., "too_large": ..., "not_found": ...,
                 "operations_accepted": ..., "operations_invalid": ..., "duplicates": ...},
      "workspaces": {
        "demo-site": {
          "totals": {... same keys ...},
          "apis": {"track": {... same keys without duplicates ...}, "app": {...}, "cdp": {...}},
          "endpoints": {"identify": {"api": "track", "stats_name": "/api/v1/customers/[id]",
                                     "requests": N, "accepted": ..., ...}, ...},
          "rate_limits": {"track": {"requests": 100, "per_seconds": 1.0, "burst": null,
                                    "per_second": 100.0, "mode": "reject"}, ...}
        },
        "_unknown": {...}    # requests whose credentials named no workspace (401) or no endpoint (404)
      }
    }

``requests`` is always the sum of the nine outcomes, so the counters add up to what clients sent.
Endpoints that saw no request are left out of ``endpoints``; ``totals`` and ``apis`` are always there.
``operations_accepted`` counts operations: a v2 or Pipelines batch of N valid operations counts N.
"""

from __future__ import annotations

from typing import Any

from cio_contract import ENDPOINTS, Api, Endpoint
from sandbox.shared import SharedMemory

__all__ = ["OUTCOMES", "UNKNOWN_WORKSPACE", "UNMATCHED", "Accounting"]

OUTCOMES = (
    "accepted", "invalid", "unauthorized", "rate_limited", "dropped", "blocked", "fault", "too_large",
    "not_found",
)  # fmt: skip
ACCEPTED, INVALID, UNAUTHORIZED, RATE_LIMITED, DROPPED, BLOCKED, FAULT, TOO_LARGE, NOT_FOUND = range(9)
_OPS_OK = len(OUTCOMES)
_OPS_BAD = _OPS_OK + 1
_CELLS = _OPS_BAD + 1
UNKNOWN_WORKSPACE = "_unknown"
# Requests that matched no endpoint are accounted to this pseudo endpoint (api guessed from the path).
UNMATCHED = Endpoint("_unmatched", Api.TRACK, "*", "/*")


class Accounting:
    """Counter cells laid out as ``[process][workspace][endpoint][outcome + 2 operation cells]``."""

    def __init__(self, workspaces: list[str], endpoints: tuple[Endpoint, ...] = ENDPOINTS):
        self.workspaces = [UNKNOWN_WORKSPACE, *workspaces]
        self.endpoints = (*endpoints, UNMATCHED)
        self.endpoint_index = {e.name: i for i, e in enumerate(self.endpoints)}
        self._per_ws = len(self.endpoints) * _CELLS
        self._dup_base = len(self.workspaces) * self._per_ws
        self.cells = self._dup_base + len(self.workspaces)
        self._row: memoryview | None = None
        self._shared: SharedMemory | None = None

    def attach(self, shared: SharedMemory, process_index: int) -> None:
        """Write into ``process_index``'s row of ``shared`` from now on."""
        self._shared = shared
        start = process_index * self.cells
        self._row = shared.counters()[start : start + self.cells]

    def cell(self, workspace: int, endpoint: int) -> int:
        """Base offset of one (workspace, endpoint) pair; add an outcome index to count it."""
        return workspace * self._per_ws + endpoint * _CELLS

    def record(self, base: int, outcome: int, ops_ok: int = 0, ops_bad: int = 0) -> None:
        row = self._row
        assert row is not None
        row[base + outcome] += 1
        if ops_ok:
            row[base + _OPS_OK] += ops_ok
        if ops_bad:
            row[base + _OPS_BAD] += ops_bad

    def duplicate(self, workspace: int, count: int = 1) -> None:
        assert self._row is not None
        self._row[self._dup_base + workspace] += count

    def snapshot(self) -> dict[str, Any]:
        """Summed counters as nested dicts (see the module docstring for the shape)."""
        assert self._shared is not None
        cells = self._shared.summed_counters()
        result: dict[str, Any] = {}
        grand = _zero(with_duplicates=True)
        for w, name in enumerate(self.workspaces):
            ws = _workspace_stats(cells, w * self._per_ws, self.endpoints)
            ws["totals"]["duplicates"] = cells[self._dup_base + w]
            for key, value in ws["totals"].items():
                grand[key] += value
            result[name] = ws
        return {"totals": grand, "workspaces": result}

    def counter_rows(self) -> list[tuple[str, Endpoint, dict[str, int]]]:
        """``(workspace, endpoint, counters)`` for every pair that saw traffic (for /metrics)."""
        assert self._shared is not None
        cells = self._shared.summed_counters()
        rows = []
        for w, name in enumerate(self.workspaces):
            for e, ep in enumerate(self.endpoints):
                counters = _read(cells, w * self._per_ws + e * _CELLS)
                if counters["requests"]:
                    rows.append((name, ep, counters))
        return rows

    def duplicates_by_workspace(self) -> dict[str, int]:
        assert self._shared is not None
        cells = self._shared.summed_counters()
        return {name: cells[self._dup_base + w] for w, name in enumerate(self.workspaces)}


def _zero(with_duplicates: bool = False) -> dict[str, int]:
    keys = ["requests", *OUTCOMES, "operations_accepted", "operations_invalid"]
    if with_duplicates:
        keys.append("duplicates")
    return dict.fromkeys(keys, 0)


def _read(cells: list[int], base: int) -> dict[str, int]:
    counters = {name: cells[base + i] for i, name in enumerate(OUTCOMES)}
    return {
        "requests": sum(counters.values()),
        **counters,
        "operations_accepted": cells[base + _OPS_OK],
        "operations_invalid": cells[base + _OPS_BAD],
    }


def _workspace_stats(cells: list[int], base: int, endpoints: tuple[Endpoint, ...]) -> dict[str, Any]:
    totals = _zero(with_duplicates=True)
    apis = {str(api): _zero() for api in Api}
    per_endpoint: dict[str, Any] = {}
    for e, ep in enumerate(endpoints):
        counters = _read(cells, base + e * _CELLS)
        if not counters["requests"]:
            continue
        per_endpoint[ep.name] = {"api": str(ep.api), "stats_name": ep.stats_name, **counters}
        for key, value in counters.items():
            totals[key] += value
            apis[str(ep.api)][key] += value
    return {"totals": totals, "apis": apis, "endpoints": per_endpoint}
