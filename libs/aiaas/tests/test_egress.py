"""aiaas.egress: tenant-supplied URLs never reach loopback, private, link-local or reserved addresses."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from aiaas.egress import InternalAddressError, PublicResolver, check_public_url, is_internal, public_session
from aiaas_testing import serve_local


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT, often a pod range
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1%eth0",
        "fc00::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "not-an-address",
    ],
)
def test_internal_addresses(address: str) -> None:
    assert is_internal(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert not is_internal(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8082/hook",
        "http://[::1]/hook",
        "http://[::ffff:169.254.169.254]/latest/meta-data",
        "https://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:9000/hook",
        "http://api.localhost/hook",
    ],
)
def test_urls_naming_internal_hosts_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="internal|this machine"):
        check_public_url(url)
    assert check_public_url(url, allow_internal=True) == url  # local development


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http://", "/relative", "http://host:99999/"])
def test_malformed_urls_are_refused_either_way(url: str) -> None:
    for allow in (False, True):
        with pytest.raises(ValueError):
            check_public_url(url, allow_internal=allow)


def test_public_urls_pass() -> None:
    assert check_public_url("https://hooks.example.com/aiaas?x=1") == "https://hooks.example.com/aiaas?x=1"
    assert check_public_url("http://8.8.8.8:8080/hook") == "http://8.8.8.8:8080/hook"


class _Answers(AbstractResolver):
    """Stands in for DNS (no name server is reachable here): fixed answers for one name."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {"hostname": host, "host": a, "port": port, "family": family, "proto": 0, "flags": 0}
            for a in self.addresses
        ]

    async def close(self) -> None:
        return None


async def test_resolver_drops_internal_answers_and_refuses_when_none_remain() -> None:
    mixed = PublicResolver(_Answers(["10.0.0.7", "93.184.216.34", "127.0.0.1"]))
    assert [r["host"] for r in await mixed.resolve("hooks.example.com", 443)] == ["93.184.216.34"]
    rebinding = PublicResolver(_Answers(["169.254.169.254"]))
    with pytest.raises(InternalAddressError, match="only to internal addresses"):
        await rebinding.resolve("hooks.example.com", 443)


async def test_public_session_cannot_reach_a_name_that_resolves_to_loopback() -> None:
    """The real resolver and a real server on 127.0.0.1: `localhost` is refused at connect time."""

    async def hook(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with serve_local(app) as base:
        async with public_session() as http:
            with pytest.raises(aiohttp.ClientConnectorError):
                await http.post(base.replace("127.0.0.1", "localhost") + "/hook", data=b"{}")
        async with public_session(allow_internal=True) as http:
            async with http.post(base.replace("127.0.0.1", "localhost") + "/hook", data=b"{}") as resp:
                assert resp.status == 204
