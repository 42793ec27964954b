"""The sandbox serves through ``httpserver`` (``Sandbox`` is its application); the peer check behind
the admin API's loopback-only rule lives there as ``httpserver.is_loopback``."""

from __future__ import annotations

from httpserver import is_loopback as _is_loopback

__all__ = ["_is_loopback"]
