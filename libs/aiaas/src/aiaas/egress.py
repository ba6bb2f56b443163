"""Requests to URLs that tenants supply (alert webhooks) never reach the platform's own network.

A tenant who could point a webhook at `http://127.0.0.1:…`, a pod address or the cloud metadata service
(169.254.169.254) would make the platform call its internal services for them (server-side request
forgery). Two checks, because either alone is not enough:

- `check_public_url` when the URL is registered and again before each delivery: an IP-literal host (any
  form aiohttp accepts) or a `localhost` name in an internal range is refused. aiohttp does not resolve
  IP literals, so only this check sees them.
- `public_session()` for the delivery: its resolver drops every internal address a name resolves to, at
  connect time, so a name that resolves (or is re-pointed, DNS rebinding) to an internal address fails
  to connect. Deliveries also do not follow redirects (`allow_redirects=False`), since a redirect could
  name an internal IP literal.

`allow_internal=True` turns both off (local development and tests deliver to receivers on 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

__all__ = ["InternalAddressError", "PublicResolver", "check_public_url", "is_internal", "public_session"]

# Not covered by ipaddress's is_private/is_reserved/...: carrier-grade NAT space, often a cluster's pod range.
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")


class InternalAddressError(OSError):
    """The destination is an internal address (loopback, private, link-local, ...)."""


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None


def is_internal(address: str) -> bool:
    """True for every address that is not a public unicast one (an unparsable address counts as internal)."""
    ip = _ip(address)
    return True if ip is None else _internal(ip)


def _internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return _internal(mapped)
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_ADDRESS_SPACE)
    )


def check_public_url(url: str, *, allow_internal: bool = False) -> str:
    """`url` when it is an absolute http(s) URL that may be called; raises ValueError saying why not."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise ValueError("not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("not an absolute http(s) URL")
    if allow_internal:
        return url
    if host == "localhost" or host.endswith(".localhost"):
        raise ValueError(f"the host {host!r} is this machine")
    ip = _ip(host)
    if ip is not None and _internal(ip):
        raise ValueError(f"the address {host} is internal (loopback, private, link-local or reserved)")
    return url


class PublicResolver(AbstractResolver):
    """aiohttp's default resolver, minus internal addresses; none left raises `InternalAddressError`."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        public = [result for result in results if not is_internal(result["host"])]
        if not public:
            raise InternalAddressError(f"{host} resolves only to internal addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()


def public_session(*, allow_internal: bool = False, **kwargs: Any) -> aiohttp.ClientSession:
    """A client session for tenant-supplied URLs (see the module docstring); kwargs go to ClientSession."""
    connector = aiohttp.TCPConnector(resolver=None if allow_internal else PublicResolver())
    return aiohttp.ClientSession(connector=connector, **kwargs)
