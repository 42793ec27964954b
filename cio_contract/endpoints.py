"""The emulated endpoints: one table shared by the sandbox (routing), the pipeline (ingest routing)
and the traffic model (request names), so the three can never disagree about a path.

Paths use ``{param}`` placeholders; ``stats_name`` is the name Locust reports the request under, with
ids replaced by ``[param]`` so one endpoint is one stats row whatever the id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote

__all__ = ["Api", "Endpoint", "ENDPOINTS", "Router", "endpoint"]


class Api(StrEnum):
    TRACK = "track"
    APP = "app"
    CDP = "cdp"


@dataclass(frozen=True)
class Endpoint:
    name: str
    api: Api
    method: str
    path: str
    auth: bool = True
    """False for the few paths Customer.io documents as needing no credentials (metrics, unsubscribe)."""
    ok_status: int = 200
    """The documented success status (204 for form submissions)."""

    @property
    def stats_name(self) -> str:
        return self.path.replace("{", "[").replace("}", "]")

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.strip("/").split("/"))


def _e(name: str, api: Api, method: str, path: str, auth: bool = True, ok_status: int = 200) -> Endpoint:
    return Endpoint(name, api, method, path, auth, ok_status)


ENDPOINTS: tuple[Endpoint, ...] = (
    # Track API v1
    _e("identify", Api.TRACK, "PUT", "/api/v1/customers/{id}"),
    _e("delete", Api.TRACK, "DELETE", "/api/v1/customers/{id}"),
    _e("track", Api.TRACK, "POST", "/api/v1/customers/{id}/events"),
    _e("track_anonymous", Api.TRACK, "POST", "/api/v1/events"),
    _e("add_device", Api.TRACK, "PUT", "/api/v1/customers/{id}/devices"),
    _e("delete_device", Api.TRACK, "DELETE", "/api/v1/customers/{id}/devices/{device_id}"),
    _e("suppress", Api.TRACK, "POST", "/api/v1/customers/{id}/suppress"),
    _e("unsuppress", Api.TRACK, "POST", "/api/v1/customers/{id}/unsuppress"),
    _e("merge_customers", Api.TRACK, "POST", "/api/v1/merge_customers"),
    _e("region", Api.TRACK, "GET", "/api/v1/accounts/region"),
    _e("add_to_segment", Api.TRACK, "POST", "/api/v1/segments/{segment_id}/add_customers"),
    _e("remove_from_segment", Api.TRACK, "POST", "/api/v1/segments/{segment_id}/remove_customers"),
    _e("submit_form", Api.TRACK, "POST", "/api/v1/forms/{form_id}/submit", ok_status=204),
    _e("push_metrics", Api.TRACK, "POST", "/api/v1/push/events"),
    _e("metrics", Api.TRACK, "POST", "/api/v1/metrics", auth=False),
    _e("unsubscribe", Api.TRACK, "POST", "/unsubscribe/{delivery_id}", auth=False),
    # Track API v2
    _e("v2_entity", Api.TRACK, "POST", "/api/v2/entity"),
    _e("v2_batch", Api.TRACK, "POST", "/api/v2/batch"),
    # App API (transactional)
    _e("send_email", Api.APP, "POST", "/v1/send/email"),
    _e("send_push", Api.APP, "POST", "/v1/send/push"),
    _e("send_sms", Api.APP, "POST", "/v1/send/sms"),
    _e("send_whatsapp", Api.APP, "POST", "/v1/send/whatsapp"),
    _e("send_inbox_message", Api.APP, "POST", "/v1/send/inbox_message"),
    _e("send_in_app", Api.APP, "POST", "/v1/send/in_app"),
    # Data Pipelines
    _e("cdp_identify", Api.CDP, "POST", "/v1/identify"),
    _e("cdp_track", Api.CDP, "POST", "/v1/track"),
    _e("cdp_page", Api.CDP, "POST", "/v1/page"),
    _e("cdp_screen", Api.CDP, "POST", "/v1/screen"),
    _e("cdp_group", Api.CDP, "POST", "/v1/group"),
    _e("cdp_alias", Api.CDP, "POST", "/v1/alias"),
    _e("cdp_batch", Api.CDP, "POST", "/v1/batch"),
)

_BY_NAME = {e.name: e for e in ENDPOINTS}


def endpoint(name: str) -> Endpoint:
    """The endpoint called ``name`` (e.g. ``"identify"``); KeyError names the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown endpoint {name!r}; known: {', '.join(_BY_NAME)}") from None


class Router:
    """Matches ``(method, path)`` to an endpoint and its decoded path parameters.

    Lookup is by segment count and literal segments, so a match costs a dict lookup and a short
    loop, not a regex scan over every route (the sandbox calls it on every request).
    """

    def __init__(self, endpoints: tuple[Endpoint, ...] = ENDPOINTS):
        # Segments split once here: ``Endpoint.segments`` splits on every call.
        self._by_length: dict[int, list[tuple[Endpoint, tuple[str, ...]]]] = {}
        for e in endpoints:
            self._by_length.setdefault(len(e.segments), []).append((e, e.segments))

    def match(self, method: str, path: str) -> tuple[Endpoint | None, dict[str, str], bool]:
        """Return ``(endpoint, params, path_known)``.

        ``endpoint`` is None when nothing matches; ``path_known`` then tells a wrong method (405)
        from an unknown path (404).
        """
        path = path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        path_known = False
        for e, segments in self._by_length.get(len(parts), ()):
            params = _match_segments(segments, parts)
            if params is None:
                continue
            if e.method == method:
                return e, params, True
            path_known = True
        return None, {}, path_known

    def methods(self, path: str) -> list[str]:
        """The methods some endpoint serves on ``path`` (a 405's ``Allow`` header), sorted."""
        parts = path.split("?", 1)[0].strip("/").split("/")
        found = {e.method for e, segments in self._by_length.get(len(parts), ())
                 if _match_segments(segments, parts) is not None}  # fmt: skip
        return sorted(found)


def _match_segments(pattern: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for want, got in zip(pattern, parts, strict=True):
        if want[0] == "{":
            if not got:
                return None
            params[want[1:-1]] = unquote(got)
        elif want != got:
            return None
    return params
