"""Schemathesis hooks for the conformance runs (loaded through ``SCHEMATHESIS_HOOKS``): each API's
credentials of the demo workspace, and ``X-Strict-Mode: 1`` on Pipelines calls that carry none.

Without the header Pipelines answers 200 to any payload by design (the document says so), so the
request schema binds only in strict mode; a generated header value is kept and must be refused.
"""

from __future__ import annotations

import base64
from typing import Any

import schemathesis

TRACK = "Basic " + base64.b64encode(b"demo-site:demo-track-key").decode()
APP = "Bearer demo-app-key"
CDP = "Basic " + base64.b64encode(b"demo-cdp-key:").decode()


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    path = case.operation.path
    headers = case.headers if case.headers is not None else {}
    case.headers = headers
    if path.startswith("/v1/send/"):
        auth = APP
    elif path.startswith("/v1/"):
        auth = CDP
        headers.setdefault("X-Strict-Mode", "1")
    else:
        auth = TRACK
    if not any(name.lower() == "authorization" for name in headers):
        headers["Authorization"] = auth
