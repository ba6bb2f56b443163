"""Admission: API key (4401), tenant isolation (4403), per-tenant connection limit (4429), idle timeout (4000)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiaas_testing.realtime import close_code, open_ws, recv, recv_until, send

from .factories import IDLE_TIMEOUT_S, MAX_CONNECTIONS_PER_TENANT


async def test_missing_or_bad_key_closes_4401(rt_a) -> None:
    for key, via in ((None, "header"), ("sk-aiaas-not-a-real-key", "header"), ("garbage", "query")):
        async with open_ws(rt_a.ws, key, via=via) as ws:
            assert await close_code(ws) == 4401
            assert ws.close_reason.startswith(("missing_api_key", "invalid_api_key"))


async def test_other_tenants_conversation_is_forbidden(rt_a, rt_b, make_tenant) -> None:
    owner, intruder = await make_tenant(), await make_tenant()
    async with open_ws(rt_a.ws, owner.api_key) as ws:
        await send(ws, type="message.create", content="secret plans", model="chat", client_msg_id="1")
        events, _ = await recv_until(ws, ("response.completed",))
    cid = events[0]["conversation_id"]

    for frame in (
        {"type": "resume", "conversation_id": cid, "last_seq": 0},
        {"type": "message.create", "conversation_id": cid, "content": "hi", "model": "chat", "client_msg_id": "x"},
    ):
        async with open_ws(rt_b.ws, intruder.api_key) as ws:
            await send(ws, **frame)
            error = await recv(ws)
            assert error == {
                "v": 1,
                "type": "error",
                "code": "conversation_not_found",
                "message": "No such conversation for this API key's tenant.",
                "conversation_id": cid,
            }
            assert await close_code(ws) == 4403


async def test_per_tenant_connection_limit_across_instances(rt_a, rt_b, make_tenant) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    async with contextlib.AsyncExitStack() as stack:
        sockets = []
        for i in range(MAX_CONNECTIONS_PER_TENANT):
            ws = await stack.enter_async_context(open_ws((rt_a, rt_b)[i % 2].ws, tenant.api_key))
            await send(ws, type="ping")
            assert (await recv(ws))["type"] == "pong"
            sockets.append(ws)
        async with open_ws(rt_a.ws, tenant.api_key) as extra:
            assert await close_code(extra) == 4429
        # Another tenant is not affected.
        async with open_ws(rt_b.ws, other.api_key) as ws:
            await send(ws, type="ping")
            assert (await recv(ws))["type"] == "pong"
        # A closed socket frees its slot.
        await sockets[0].close()
        await asyncio.sleep(0.3)
        async with open_ws(rt_b.ws, tenant.api_key) as ws:
            await send(ws, type="ping")
            assert (await recv(ws))["type"] == "pong"


async def test_silent_client_is_closed_4000(rt_a, make_tenant) -> None:
    tenant = await make_tenant()
    async with open_ws(rt_a.ws, tenant.api_key) as quiet, open_ws(rt_a.ws, tenant.api_key) as chatty:
        started = time.monotonic()
        for _ in range(int(IDLE_TIMEOUT_S / 2) + 2):
            await send(chatty, type="ping")
            assert (await recv(chatty))["type"] == "pong"
            await asyncio.sleep(1)
        assert await close_code(quiet, wait_s=IDLE_TIMEOUT_S + 5) == 4000
        assert time.monotonic() - started >= IDLE_TIMEOUT_S - 0.5
        # Pinging kept the other one open.
        await send(chatty, type="ping")
        assert (await recv(chatty))["type"] == "pong"
