"""Where a partner's webhooks may go: public addresses only (a server-side request forgery guard).

A webhook URL is chosen by the partner, but the request leaves from inside our network, so a URL
naming a private, loopback or link-local address (the cloud metadata service at 169.254.169.254,
the cluster's own services) would let a partner probe them. Every address a host name resolves
to is checked when the order is created AND at every delivery, and the delivery connects to the
very address that was checked, so a name re-pointed between check and connect (DNS rebinding)
gains nothing. Redirects are not followed: a 3xx answer is a failed attempt. An operator can
allow chosen networks (`HEADSHOTS_WEBHOOK_ALLOW_NETWORKS`, e.g. 127.0.0.0/8 on a laptop).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.parse
import urllib.request
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# socket.create_connection's "no timeout given" sentinel, which http.client passes through.
_DEFAULT_TIMEOUT = socket._GLOBAL_DEFAULT_TIMEOUT  # type: ignore[attr-defined]


class BlockedDestination(OSError):
    """The URL is unusable or leads to an address webhooks may not reach; `reason` says which."""


def parse_networks(spec: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(s.strip(), strict=False) for s in spec if s.strip())


def _address_refusal(address: str, allowed: tuple[Network, ...]) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed):
        return None
    if ip.is_global and not ip.is_multicast:
        return None
    kind = next(
        (
            name
            for name, flag in (
                ("unspecified", ip.is_unspecified),
                ("loopback", ip.is_loopback),
                ("link-local", ip.is_link_local),
                ("multicast", ip.is_multicast),
                ("private", ip.is_private),
            )
            if flag
        ),
        "non-public",
    )
    return f"{address} is a {kind} address"


def resolve(host: str, port: int, allowed: tuple[Network, ...]) -> list[tuple]:
    """getaddrinfo results for host:port; BlockedDestination if it does not resolve or ANY address is refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockedDestination(f"host {host!r} does not resolve ({exc})") from None
    for *_, sockaddr in infos:
        refusal = _address_refusal(str(sockaddr[0]), allowed)
        if refusal:
            raise BlockedDestination(f"host {host!r}: {refusal}; webhooks go to public addresses only")
    return infos


def host_of(url: str) -> str:
    """The host a webhook URL's requests go to, as the senders' caps count it: whatever the port, the user part
    or the letter case (`https://user@Hooks.Example.com.:8443/a` is `hooks.example.com`), IDNA names in ASCII."""
    host = (urllib.parse.urlsplit(url).hostname or "").rstrip(".")
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:  # not a name IDNA can write (too long a label): the lowercased text is the key
        return host


def check_url(url: str, allowed: tuple[Network, ...]) -> None:
    """BlockedDestination unless `url` is http(s) with a host whose every address may be reached."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedDestination("a webhook URL needs the http or https scheme and a host")
    if parts.username is not None or parts.password is not None:
        # urllib would not send them, and a secret in a URL is stored and logged as plain text.
        raise BlockedDestination("a webhook URL must not carry credentials (user@host); verify our signature instead")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BlockedDestination("the webhook URL's port is not a number between 0 and 65535") from None
    resolve(parts.hostname, port, allowed)


def _guarded_connect(allowed: tuple[Network, ...]):
    """socket.create_connection that connects only to addresses `resolve` has just approved."""

    def create_connection(address, timeout=_DEFAULT_TIMEOUT, source_address=None):
        host, port = address
        last_error: OSError | None = None
        for family, kind, proto, _, sockaddr in resolve(host, port, allowed):
            sock = socket.socket(family, kind, proto)
            try:
                if timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                last_error = exc
        raise last_error or OSError(f"no address for {host!r}")

    return create_connection


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # urllib then raises HTTPError with the 3xx status


def opener(allowed: tuple[Network, ...]) -> urllib.request.OpenerDirector:
    """A urllib opener for webhook deliveries: guarded connections, no redirects."""
    connect = _guarded_connect(allowed)

    class GuardedHTTPConnection(http.client.HTTPConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = connect

    class GuardedHTTPSConnection(http.client.HTTPSConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = connect  # TLS still verifies the certificate for the URL's host name

    class GuardedHTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(GuardedHTTPConnection, req)

    class GuardedHTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(GuardedHTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]  # urllib's own TLS context

    # ProxyHandler({}): no proxy from the environment, the connection goes where it was checked to go.
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), GuardedHTTPHandler, GuardedHTTPSHandler, _NoRedirects
    )
