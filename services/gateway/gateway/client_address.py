"""The client's address: the one definition every per-address limit uses (REST throttles and studio pages).

Behind proxies the connection comes from the nearest proxy, and X-Forwarded-For lists what each proxy saw, the
client first. Anyone can write that header, so it is believed only as far as trusted proxies vouch for it
(HEADSHOTS_TRUSTED_PROXIES): walking from the connection's own address leftwards through the header, the first
address that is not a trusted proxy is the client. With no trusted proxy that is always the connection's address.
"""

from __future__ import annotations

import ipaddress

from gateway.config import CONFIG

# What a hop that is no address at all counts as: every such client shares one (tightly limited) counter.
UNKNOWN = "unknown"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client seen by an IPv6 socket is still that IPv4 address.
    return (address.ipv4_mapped or address) if isinstance(address, ipaddress.IPv6Address) else address


def _trusted(address: IPAddress) -> bool:
    return any(address in network for network in CONFIG.trusted_proxies)


def client_address(request) -> str:
    """The address of whoever made `request` (a Django or DRF request), as far as trusted proxies say."""
    forwarded = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in [request.META.get("REMOTE_ADDR", ""), *reversed(forwarded)]:
        address = _parse(hop)
        if address is None:
            return UNKNOWN
        if not _trusted(address):
            return str(address)
    # Every hop is one of our proxies (a health check from inside): the farthest one is the client.
    return str(_parse(forwarded[0] if forwarded else request.META.get("REMOTE_ADDR", "")))
