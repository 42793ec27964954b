"""What an API handler receives: the routed, authenticated request and the narrow recorder it writes to.

Kept apart from ``sandbox.app`` so the handlers need nothing of the dispatcher, not even its types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from cio_contract import Endpoint, Limits
from sandbox.store import Store

__all__ = ["Recorder", "Request"]


@dataclass(slots=True)
class Request:
    """One API request after routing and authentication."""

    endpoint: Endpoint
    params: dict[str, str]
    workspace: int
    """Index of the workspace in the accounting (0 = unknown)."""
    workspace_name: str
    body: bytes
    strict: bool
    limits: Limits


class Recorder(Protocol):
    """All a handler may touch: the store, the deduplicating event writer and the arrivals record."""

    @property
    def store(self) -> Store: ...

    def event(self, req: Request, person: Any, name: str, kind: str, event_id: Any, data: Any) -> None:
        """Store one event unless its id was seen before."""

    def arrived(self, delivery_id: Any) -> None:
        """Record that the call carrying ``delivery_id`` reached the sandbox (delivery accounting)."""

    @property
    def records_arrivals(self) -> bool:
        """Whether ``arrived`` keeps anything (``--arrivals-dir``); a batch's operations skip looking
        for their ids when not."""
