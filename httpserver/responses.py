"""HTTP/1.1 response bytes: built from cached status lines, with the common ones built once."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson

__all__ = ["EMPTY_OK", "json_response", "raw_response"]

_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}
_JSON = b"Content-Type: application/json\r\nContent-Length: "
_CLOSE = b"Connection: close\r\n"


def raw_response(status: int, body: bytes, content_type: bytes = b"application/json",
                 headers: bytes = b"", close: bool = False) -> bytes:  # fmt: skip
    """A complete response; ``headers`` are extra ``Name: value\\r\\n`` lines."""
    return b"".join(
        (
            _STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown\r\n".encode(),
            b"Content-Type: ", content_type, b"\r\nContent-Length: ", str(len(body)).encode(), b"\r\n",
            headers, _CLOSE if close else b"", b"\r\n", body,
        )
    )  # fmt: skip


def json_response(status: int, body: Any, headers: bytes = b"", close: bool = False) -> bytes:
    return raw_response(status, orjson.dumps(body), headers=headers, close=close)


EMPTY_OK = _STATUS_LINES[200] + _JSON + b"2\r\n\r\n{}"
EMPTY_OK_CLOSE = _STATUS_LINES[200] + _JSON + b"2\r\n" + _CLOSE + b"\r\n{}"
