"""Fetch one Prometheus ``/metrics`` page within a hard deadline and flatten it into samples.

A scrape never raises: an endpoint that is missing, slow or answers with something that is not
Prometheus text gives a :class:`Scrape` with ``samples=None`` and a one-line ``error`` instead, so the
sampler can leave that second's cells empty and keep its cadence.
"""

from __future__ import annotations

import gevent
import locust  # noqa: F401 - gevent must patch ssl before requests loads it

import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["MAX_BODY_BYTES", "Samples", "Scrape", "metrics_url_for", "redact", "scrape"]

MAX_BODY_BYTES = 8 * 1024 * 1024
"""A metrics page larger than this is refused rather than parsed on the master's event loop."""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""``(sample name, sorted label pairs) -> value``; ``*_created`` samples are left out."""


@dataclass(frozen=True)
class Scrape:
    """The outcome of one scrape of one endpoint."""

    url: str
    at: float
    """Wall-clock time (unix seconds) the scrape started."""
    samples: Samples | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.samples is not None


def scrape(url: str, timeout: float, token: str | None = None) -> Scrape:
    """GET ``url`` and parse it, giving up after ``timeout`` seconds in total (connect + read).

    ``token`` goes out as ``Authorization: Bearer``: the sandbox asks it of non-loopback clients.
    """
    started = time.time()
    # gevent.Timeout bounds the whole exchange; requests' own timeout is per socket read only, so a
    # server trickling bytes would otherwise hold the sampler for ever. It is a BaseException, so
    # urllib3's retry and error wrapping cannot swallow it.
    deadline = gevent.Timeout(timeout)
    deadline.start()
    try:
        return Scrape(url, started, parse(_get_text(url, timeout, token)))
    except gevent.Timeout as exc:
        if exc is not deadline:
            raise
        return Scrape(url, started, None, f"no answer within {timeout:g} s")
    except requests.Timeout:
        return Scrape(url, started, None, f"no answer within {timeout:g} s")
    except requests.ConnectionError:
        return Scrape(url, started, None, "connection refused or reset")
    except _Unusable as exc:
        return Scrape(url, started, None, str(exc))
    except requests.RequestException as exc:
        return Scrape(url, started, None, type(exc).__name__)
    finally:
        deadline.close()


class _Unusable(Exception):
    """The endpoint answered, but not with a Prometheus metrics page."""


def _get_text(url: str, timeout: float, token: str | None = None) -> str:
    # A fresh connection per scrape: one TCP handshake a second is nothing, and a scrape cut short
    # by the deadline cannot leave a half-read response in a shared pool.
    verify = urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1")
    headers = {"Connection": "close"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with requests.get(url, timeout=timeout, stream=True, verify=verify, headers=headers) as response:
        if response.status_code in (401, 403):
            raise _Unusable(f"HTTP {response.status_code}: set SANDBOX_ADMIN_TOKEN (or --metrics-token)")
        if response.status_code != 200:
            raise _Unusable(f"HTTP {response.status_code} (no metrics endpoint)")
        body = response.raw.read(MAX_BODY_BYTES + 1, decode_content=True)
    if len(body) > MAX_BODY_BYTES:
        raise _Unusable(f"metrics page larger than {MAX_BODY_BYTES} bytes")
    return body.decode("utf-8", errors="replace")


def parse(text: str) -> Samples:
    """Flatten Prometheus text into samples; raises the module's error for anything else."""
    samples: Samples = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    except (ValueError, TypeError, IndexError) as exc:
        raise _Unusable(f"not Prometheus text ({str(exc)[:80]})") from None
    if not samples and text.strip():
        raise _Unusable("not Prometheus text (no samples)")
    return samples


def metrics_url_for(host: str) -> str:
    """``http://h:p/anything`` -> ``http://h:p/metrics``: where our services expose their metrics."""
    parts = urlsplit(host if "//" in host else f"http://{host}")
    return urlunsplit((parts.scheme or "http", parts.netloc, "/metrics", "", ""))


def redact(url: str) -> str:
    """Drop ``user:password@`` from a URL so it can be shown or logged."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[1], parts.path, parts.query, ""))
