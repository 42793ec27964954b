"""Fault injection: error ratios by status, latency with a heavy tail, resets, hangs and outages.

A faults document maps an endpoint name (or ``"*"`` for every endpoint) to a spec::

    {"*": {"latency": {"fixed_ms": 5, "tail_ms": 20, "tail_alpha": 1.5, "max_ms": 2000}},
     "identify": {"errors": {"503": 0.1, "500": 0.02}, "reset_ratio": 0.01, "hang_ratio": 0.001,
                  "hang_seconds": 300, "outage_seconds": 5}}

An endpoint's own spec replaces ``"*"`` for it. Latency is ``fixed_ms`` plus a Pareto-distributed
extra of scale ``tail_ms`` (median about 0.6 x tail_ms for alpha 1.5, rare values far larger), capped
at ``max_ms``. ``outage_seconds`` starts a full outage (503 on every request) when the document is set.
The document lives in shared memory, so a ``PUT /__sandbox/faults`` reaches every process.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from plumbing.errors import SandboxError
from sandbox.shared import CTL_FAULTS, SharedMemory

__all__ = [
    "FaultError",
    "FaultSpec",
    "Faults",
    "compile_document",
    "NONE",
    "ERROR",
    "RESET",
    "HANG",
    "OUTAGE",
]

NONE, ERROR, RESET, HANG, OUTAGE = range(5)
_ERROR_STATUSES = (500, 502, 503, 504)


class FaultError(SandboxError, ValueError):
    """A faults document is malformed; the message names the key."""


@dataclass(frozen=True)
class FaultSpec:
    errors: tuple[tuple[int, float], ...] = ()
    fixed_ms: float = 0.0
    tail_ms: float = 0.0
    tail_alpha: float = 1.5
    max_ms: float = 10_000.0
    reset_ratio: float = 0.0
    hang_ratio: float = 0.0
    hang_seconds: float = 300.0
    outage_until: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def latency(self) -> float:
        """One latency draw in seconds."""
        extra = self.tail_ms * (random.paretovariate(self.tail_alpha) - 1.0) if self.tail_ms else 0.0
        return min(self.fixed_ms + extra, self.max_ms) / 1000.0


def _ratio(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise FaultError(f"{where}: expected a ratio between 0 and 1, got {value!r}")
    return float(value)


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultError(f"{where}: expected a number >= 0, got {value!r}")
    return float(value)


def parse_spec(name: str, data: Any, now: float) -> FaultSpec:
    if not isinstance(data, dict):
        raise FaultError(f"faults[{name!r}]: expected a mapping of fault settings")
    known = {
        "errors",
        "latency",
        "reset_ratio",
        "hang_ratio",
        "hang_seconds",
        "outage_seconds",
        "outage_until",
    }
    unknown = set(data) - known
    if unknown:
        raise FaultError(f"faults[{name!r}]: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    errors = data.get("errors") or {}
    if not isinstance(errors, dict):
        raise FaultError(f"faults[{name!r}].errors: expected a mapping status -> ratio, e.g. {{503: 0.1}}")
    parsed_errors = []
    for status, ratio in errors.items():
        if str(status) not in {str(s) for s in _ERROR_STATUSES}:
            raise FaultError(f"faults[{name!r}].errors: status {status!r} is not one of 500, 502, 503, 504")
        parsed_errors.append((int(status), _ratio(f"faults[{name!r}].errors[{status}]", ratio)))
    if sum(r for _, r in parsed_errors) > 1:
        raise FaultError(f"faults[{name!r}].errors: the ratios add up to more than 1")
    latency = data.get("latency") or {}
    if not isinstance(latency, dict):
        raise FaultError(f"faults[{name!r}].latency: expected {{fixed_ms, tail_ms, tail_alpha, max_ms}}")
    alpha = _number(f"faults[{name!r}].latency.tail_alpha", latency.get("tail_alpha", 1.5))
    if alpha <= 0:
        raise FaultError(f"faults[{name!r}].latency.tail_alpha: must be > 0")
    outage_until = float(data.get("outage_until") or 0.0)
    if data.get("outage_seconds"):
        outage_until = now + _number(f"faults[{name!r}].outage_seconds", data["outage_seconds"])
    return FaultSpec(
        errors=tuple(parsed_errors),
        fixed_ms=_number(f"faults[{name!r}].latency.fixed_ms", latency.get("fixed_ms", 0)),
        tail_ms=_number(f"faults[{name!r}].latency.tail_ms", latency.get("tail_ms", 0)),
        tail_alpha=alpha,
        max_ms=_number(f"faults[{name!r}].latency.max_ms", latency.get("max_ms", 10_000)),
        reset_ratio=_ratio(f"faults[{name!r}].reset_ratio", data.get("reset_ratio", 0)),
        hang_ratio=_ratio(f"faults[{name!r}].hang_ratio", data.get("hang_ratio", 0)),
        hang_seconds=_number(f"faults[{name!r}].hang_seconds", data.get("hang_seconds", 300)),
        outage_until=outage_until,
        raw={k: v for k, v in data.items() if k not in ("outage_seconds", "outage_until")},
    )


def compile_document(document: Any, known_endpoints: set[str], now: float | None = None) -> dict[str, Any]:
    """Validate a faults document and turn ``outage_seconds`` into an absolute ``outage_until``."""
    if not isinstance(document, dict):
        raise FaultError("faults: expected a mapping of endpoint name (or '*') to fault settings")
    now = time.time() if now is None else now
    compiled = {}
    for name, data in document.items():
        if name != "*" and name not in known_endpoints:
            raise FaultError(
                f"faults: unknown endpoint {name!r}; use '*' or one of {', '.join(sorted(known_endpoints))}"
            )
        spec = parse_spec(name, data, now)
        compiled[name] = {**spec.raw, "outage_until": spec.outage_until} if spec.outage_until else spec.raw
    return compiled


class Faults:
    """Per-process view of the shared faults document, reloaded when its version changes."""

    def __init__(self, shared: SharedMemory):
        self._shared = shared
        self._control = shared.control()
        self._version = -1
        self._specs: dict[str, FaultSpec] = {}
        self.active = False

    def set(self, document: dict[str, Any]) -> None:
        """Replace the document (already compiled) in every process."""
        self._shared.faults.write(document)
        self._control[CTL_FAULTS] += 1

    def document(self) -> dict[str, Any]:
        self.refresh()
        now = time.time()
        out = {}
        for name, spec in self._specs.items():
            entry = dict(spec.raw)
            if spec.outage_until > now:
                entry["outage_remaining_s"] = round(spec.outage_until - now, 3)
            out[name] = entry
        return out

    def refresh(self) -> None:
        version = self._control[CTL_FAULTS]
        if version == self._version:
            return
        self._version = version
        document = self._shared.faults.read() or {}
        self._specs = {name: parse_spec(name, data, 0.0) for name, data in document.items()}
        self.active = bool(self._specs)

    def spec_for(self, endpoint_name: str) -> FaultSpec | None:
        """The spec applying to ``endpoint_name``, or None (call ``refresh`` first)."""
        return self._specs.get(endpoint_name) or self._specs.get("*")


def decide(spec: FaultSpec, now: float) -> tuple[int, int]:
    """``(kind, status)`` for one request under ``spec``: NONE, ERROR/OUTAGE with a status, RESET, HANG."""
    if spec.outage_until > now:
        return OUTAGE, 503
    draw = random.random()
    if spec.reset_ratio and draw < spec.reset_ratio:
        return RESET, 0
    draw -= spec.reset_ratio
    if spec.hang_ratio and draw < spec.hang_ratio:
        return HANG, 0
    draw -= spec.hang_ratio
    for status, ratio in spec.errors:
        if draw < ratio:
            return ERROR, status
        draw -= ratio
    return NONE, 0
