"""A small, fast HTTP/1.1 server (httptools on an asyncio/uvloop ``Protocol``) for the sandbox and the
pipeline's ingest: keep-alive, pipelining answered in order, delayed, hanging and reset replies, and bounds on what a client can make
it hold (``ServerLimits``: header sizes, deadlines per phase, open connections).

It depends on nothing else in this project. An application implements ``Application`` (``head``,
``respond``, ``error_body``); ``HttpServer(app).listen(sock=...)`` serves it.
"""

from httpserver.application import HANG, RESET, Application, Delayed, Hang, Pending, Reply, Request
from httpserver.limits import ServerLimits
from httpserver.protocol import HttpProtocol, is_loopback
from httpserver.responses import EMPTY_OK, EMPTY_OK_CLOSE, json_response, raw_response
from httpserver.server import HttpServer

__all__ = [
    "EMPTY_OK", "EMPTY_OK_CLOSE", "HANG", "RESET", "Application", "Delayed", "Hang", "HttpProtocol",
    "HttpServer", "Pending", "Reply", "Request", "ServerLimits", "is_loopback", "json_response", "raw_response",
]  # fmt: skip
