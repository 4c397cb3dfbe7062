"""An httpx client for URLs someone else chose: it only ever connects to public addresses.

The address is checked where the socket is opened (as healthchecks' curl
wrapper does): the connection's own name lookup is screened and the socket
goes to the address that passed, so neither a redirect nor a DNS answer that
changes between a check and its use can reach the studio's own network. Host
and TLS keep the real name. Redirects are followed by httpx, each hop through
the same door; plain http and credentials in a URL are refused per request.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(Exception):
    """The URL, or an address it leads to, is not one the studio may fetch."""


def is_public_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and (address.ipv4_mapped or address.sixtofour):
        return False  # an IPv4 address in disguise: refused outright
    return address.is_global and not (address.is_multicast or address.is_reserved)


@dataclass(frozen=True)
class UrlGuard:
    """Which URLs may be fetched. Tests subclass it to fake DNS."""

    allow_private: bool = False  # the demo provider on loopback
    allow_http: bool = False  # tests of the address checks run plain-http servers on loopback

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]

    def allows(self, address: IPAddress) -> bool:
        return self.allow_private or is_public_address(address)

    def check_request(self, request: httpx.Request) -> None:
        """Per request, redirects included: https (unless allowed otherwise), no credentials, a real port."""
        if request.url.scheme != "https" and not (self.allow_private or self.allow_http):
            raise UnsafeURL("the link is not https")
        if request.url.userinfo:
            raise UnsafeURL("the link carries credentials")
        if request.url.port is not None and not 0 < request.url.port < 65536:
            raise httpx.InvalidURL(f"port {request.url.port} is out of range")

    def client(self, **options) -> httpx.Client:
        transport = httpx.HTTPTransport(trust_env=False)
        # httpx offers no public hook for httpcore's network backend, the one
        # place where sockets are opened; tests prove the guard is in effect.
        transport._pool._network_backend = _CheckedBackend(self)
        return httpx.Client(
            transport=transport,
            trust_env=False,  # no proxy from the environment: the address we check is the peer
            event_hooks={"request": [self.check_request]},
            **options,
        )


class _CheckedBackend(httpcore.SyncBackend):
    def __init__(self, guard: UrlGuard) -> None:
        self.guard = guard

    def connect_tcp(self, host: str, port: int, *args, **kwargs) -> httpcore.NetworkStream:
        try:
            addresses = self.guard.resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"the host does not resolve ({exc.__class__.__name__})") from None
        refused = [a for a in addresses if not self.guard.allows(a)]
        if refused or not addresses:
            raise UnsafeURL(f"the link points at a non-public address ({refused[0] if refused else 'none'})")
        return super().connect_tcp(str(addresses[0]), port, *args, **kwargs)
