"""The client's address, for every server route and Reflex state: the connection's peer, or,
behind TRUSTED_PROXY_HOPS reverse proxies, the address the outermost trusted proxy saw."""

from __future__ import annotations

import ipaddress
from typing import Any

from dashboard_app.settings import get_settings


def client_address(peer: str, forwarded_for: str | None, trusted_hops: int) -> str:
    """Each proxy appends to X-Forwarded-For the address it was reached from, so only the last
    `trusted_hops` entries were written by our proxies; anything further left is whatever the
    client sent. Too few entries, or one that is not an IP address, gives the peer."""
    if trusted_hops <= 0 or not forwarded_for:
        return peer
    entries = [entry.strip() for entry in forwarded_for.split(",")]
    if len(entries) < trusted_hops:
        return peer
    try:
        return str(ipaddress.ip_address(entries[-trusted_hops]))
    except ValueError:
        return peer


def request_client_ip(peer: str, forwarded_for: list[str]) -> str:
    """The client of a request whose peer and X-Forwarded-For headers (all of them, in order)
    are given, with the configured number of trusted proxies."""
    return client_address(peer, ", ".join(forwarded_for), get_settings().trusted_proxy_hops)


def router_client_ip(router: Any) -> str:
    """The client of a Reflex event, from its socket's connection (`self.router` in a state).
    Reflex's own `trusted_proxy_hops` stays 0, so `session.client_ip` is the socket's peer."""
    forwarded = router.headers.raw_headers.get("x-forwarded-for", "")
    return request_client_ip(router.session.client_ip, [forwarded] if forwarded else [])
