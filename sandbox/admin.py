"""The admin API under ``/__sandbox`` (and ``/metrics``): inspection, reset, faults, OpenAPI.

Counters live in shared memory, so any process answers stats exactly. People, events and duplicates
are kept per process; with ``--processes N`` the answering process also asks the others over their
private loopback ports (``/__sandbox/_local/...``) and merges the answers.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import orjson

from cio_contract import ENDPOINTS
from httpserver.responses import json_response, raw_response
from sandbox.config import ConfigError
from sandbox.faults import FaultError, compile_document
from sandbox.metrics import render
from sandbox.openapi import openapi_document
from sandbox.ratelimit import APIS
from sandbox.shared import CTL_PORTS

if TYPE_CHECKING:
    from sandbox.app import Sandbox

__all__ = ["Admin"]

_LOCAL = "/__sandbox/_local/"
_HEALTH = "/__sandbox/health"  # liveness probes come from the node, never with a token; it tells nothing


class Admin:
    def __init__(self, app: Sandbox):
        self.app = app
        app.admin = self
        self._endpoint_names = {e.name for e in ENDPOINTS}

    def handle(
        self, method: str, target: str, body: bytes, loopback: bool, auth: bytes | None = None
    ) -> bytes | Awaitable[bytes]:
        url = urlsplit(target)
        if not loopback and not (method == "GET" and url.path == _HEALTH) and not self._authorized(auth):
            return self._refused(auth)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path.rstrip("/")
        route = (method, path)
        if path.startswith(_LOCAL) and method == "GET":
            return json_response(200, self._local(path[len(_LOCAL) :], query))
        handler = self._routes().get(route)
        if handler is None:
            allowed = sorted(m for m, p in self._routes() if p == path)
            if allowed:
                allow = f"Allow: {', '.join(allowed)}\r\n".encode()
                return json_response(405, {"error": f"method not allowed: {method} {path}"}, headers=allow)
            return json_response(404, {"error": f"no such admin endpoint: {method} {path}"})
        return handler(query, body)

    def _authorized(self, auth: bytes | None) -> bool:
        token = self.app.config.admin_token
        if not token or not auth:
            return False
        # Constant time: the comparison must not tell a remote client how much of its guess was right.
        return hmac.compare_digest(auth, b"Bearer " + token.encode())

    def _refused(self, auth: bytes | None) -> bytes:
        if not self.app.config.admin_token:
            message = "the admin API answers loopback clients only; start the sandbox with SANDBOX_ADMIN_TOKEN (or --admin-token) and send 'Authorization: Bearer <token>'"
            return json_response(403, {"error": message})
        message = "the admin API needs 'Authorization: Bearer <token>' from non-loopback clients" + (
            "; the token sent is wrong" if auth else ""
        )
        return json_response(401, {"error": message}, headers=b"WWW-Authenticate: Bearer\r\n")

    def _routes(self) -> dict[tuple[str, str], Any]:
        return {
            ("GET", "/__sandbox/health"): lambda q, b: json_response(200, {"status": "ok"}),
            ("GET", "/__sandbox/process"): lambda q, b: json_response(
                200, {"index": self.app.process_index, "pid": os.getpid()}
            ),
            ("GET", "/__sandbox/stats"): lambda q, b: json_response(200, self.stats()),
            ("POST", "/__sandbox/reset"): self._reset,
            ("GET", "/__sandbox/faults"): lambda q, b: json_response(200, self.app.faults.document()),
            ("PUT", "/__sandbox/faults"): self._put_faults,
            ("DELETE", "/__sandbox/faults"): lambda q, b: self._set_faults({}),
            ("GET", "/__sandbox/config"): lambda q, b: json_response(200, self.public_config()),
            ("GET", "/__sandbox/limits"): lambda q, b: json_response(200, self.limits()),
            ("PUT", "/__sandbox/limits"): self._put_limits,
            ("GET", "/__sandbox/openapi.json"): lambda q, b: json_response(
                200, openapi_document(self.app.config.limits)
            ),
            ("GET", "/__sandbox/events"): lambda q, b: self._gathered("events", q),
            ("GET", "/__sandbox/people"): lambda q, b: self._gathered("people", q),
            ("GET", "/__sandbox/duplicates"): lambda q, b: self._gathered("duplicates", q),
            ("GET", "/metrics"): lambda q, b: raw_response(
                200, render(self.app), b"text/plain; version=0.0.4; charset=utf-8"
            ),
        }

    def stats(self) -> dict[str, Any]:
        """Counters per workspace and endpoint; shape documented in ``sandbox.accounting``."""
        app = self.app
        snapshot = app.accounting.snapshot()
        for site, policies in self.limits().items():
            snapshot["workspaces"][site]["rate_limits"] = policies
        return {
            "processes": app.config.processes,
            "uptime_s": round(time.time() - app.started, 3),
            "store_mode": app.config.store_mode,
            **snapshot,
        }

    def public_config(self) -> dict[str, Any]:
        """The configuration without any key."""
        config = self.app.config
        return {
            "processes": config.processes,
            "store_mode": config.store_mode,
            "workspaces": [
                {"workspace": ws.label, "rate_limits": {api: _policy_doc(p) for api, p in ws.rate.items()}}
                for ws in config.workspaces
            ],
            "limits": {k: getattr(config.limits, k) for k in config.limits.__dataclass_fields__},
        }

    def limits(self) -> dict[str, Any]:
        """The rate policies in force, per workspace and API."""
        app = self.app
        return {
            ws.label: {api: _policy_doc(app.limiter.policy(index, i)) for i, api in enumerate(APIS)}
            for index, ws in enumerate(app.config.workspaces, start=1)
        }

    def _put_limits(self, query: dict[str, str], body: bytes) -> bytes:
        try:
            self.app.limiter.update(self.app.workspace_names, orjson.loads(body or b"{}"))
        except orjson.JSONDecodeError:
            return json_response(400, {"error": "limits: the body must be a JSON object"})
        except ConfigError as exc:
            return json_response(400, {"error": str(exc)})
        return json_response(200, self.limits())

    def _reset(self, query: dict[str, str], body: bytes) -> bytes:
        self.app.reset()
        return json_response(200, {"status": "reset"})

    def _put_faults(self, query: dict[str, str], body: bytes) -> bytes:
        try:
            document = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError:
            return json_response(400, {"error": "faults: the body must be a JSON object"})
        return self._set_faults(document)

    def _set_faults(self, document: Any) -> bytes:
        try:
            compiled = compile_document(document, self._endpoint_names)
            self.app.faults.set(compiled)
        except (FaultError, ValueError) as exc:
            return json_response(400, {"error": str(exc)})
        return json_response(200, self.app.faults.document())

    # -- per-process data, merged across processes --------------------------------------------------

    def _local(self, kind: str, query: dict[str, str]) -> dict[str, Any]:
        store = self.app.store
        limit = _int(query.get("limit"), 1000)
        workspace, person = query.get("workspace"), query.get("person")
        if kind == "events":
            return {"events": store.query_events(workspace, person, query.get("name"), limit)}
        if kind == "people":
            return {"people": store.query_people(workspace, person, limit)}
        if kind == "duplicates":
            items = [{"workspace": ws, "id": i, "repeats": n} for (ws, i), n in store.duplicates.items()
                     if not workspace or ws == workspace]  # fmt: skip
            return {"duplicates": items}
        return {"error": f"unknown local view {kind!r}"}

    def _gathered(self, kind: str, query: dict[str, str]) -> bytes | Awaitable[bytes]:
        local = self._local(kind, query)
        processes = self.app.config.processes
        if processes == 1:
            return json_response(200, self._finish(kind, [local], query))
        control = self.app.shared.control()
        ports = [control[CTL_PORTS + i] for i in range(processes) if i != self.app.process_index]
        return self._gather_remote(kind, query, local, ports)

    async def _gather_remote(self, kind: str, query: dict[str, str], local: dict[str, Any],
                             ports: list[int]) -> bytes:  # fmt: skip
        target = _LOCAL + kind + "?" + "&".join(f"{k}={v}" for k, v in query.items())
        try:
            parts = [local, *await asyncio.gather(*(_get_json(p, target) for p in ports if p))]
        except (OSError, TimeoutError, ValueError) as exc:
            return json_response(502, {"error": f"could not gather from all processes: {exc}"})
        return json_response(200, self._finish(kind, parts, query))

    def _finish(self, kind: str, parts: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        items = [item for part in parts for item in part.get(kind, [])]
        if kind == "duplicates":
            # Each process reports the repeats it saw; the id's count is the first sighting plus all.
            repeats: dict[tuple[str, str], int] = {}
            for item in items:
                key = (item["workspace"], item["id"])
                repeats[key] = repeats.get(key, 0) + item["repeats"]
            merged = [{"workspace": ws, "id": i, "count": 1 + n} for (ws, i), n in repeats.items()]
            return {"duplicates": merged, "total": sum(repeats.values())}
        limit = _int(query.get("limit"), 1000)
        return {kind: items[-limit:] if limit else items, "count": len(items)}


def _policy_doc(policy: Any) -> dict[str, Any]:
    limit = policy.limit
    return {"requests": limit.requests, "per_seconds": limit.per_seconds, "burst": limit.burst,
            "per_second": limit.per_second, "mode": policy.mode, "retry_after": policy.retry_after,
            "block_seconds": policy.block_seconds}  # fmt: skip


def _int(text: str | None, default: int) -> int:
    try:
        return max(0, int(text)) if text is not None else default
    except ValueError:
        return default


async def _get_json(port: int, target: str) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    return orjson.loads(data.partition(b"\r\n\r\n")[2] or b"{}")
