"""The sandbox's OpenAPI 3.1 document: every endpoint of the contract (``cio_contract.openapi``) plus the
answers only the sandbox gives (rate limits in reject/block mode, injected faults and outages)."""

from __future__ import annotations

from typing import Any

from cio_contract import ENDPOINTS, Limits
from cio_contract.openapi import openapi_document as contract_document

__all__ = ["openapi_document"]

_SANDBOX_ANSWERS = {
    "429": "Over the workspace's rate limit (reject and block modes)",
    "500": "Injected fault",
    "502": "Injected fault",
    "503": "Injected fault or outage, or too many open connections",
    "504": "Injected fault",
}


def openapi_document(limits: Limits) -> dict[str, Any]:
    return contract_document(
        ENDPOINTS,
        "Customer.io sandbox",
        "Local emulator of Customer.io's Track (v1, v2), App (transactional) and Pipelines APIs, "
        "generated from the contract the sandbox validates with. Admin endpoints live under /__sandbox.",
        limits,
        _SANDBOX_ANSWERS,
    )
