"""10 SIGKILLs of a gateway under mixed load: every request the client saw complete is metered exactly once.

Clients (plain and streamed, concurrently) keep calling while the gateway is SIGKILLed at a random moment; a
new gateway on the same write-ahead-log directory takes over each time. A request "completed" for the client
once its whole JSON body arrived, or its stream reached `data: [DONE]`. The usage event is written ahead
before that last byte leaves, so each completed request id must have exactly one `requests` row.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import aiohttp
from sqlalchemy import text

from aiaas.db import tenant_session

from .factories import start_gateway

KILLS = 10
CLIENTS = 8


async def _call(http: aiohttp.ClientSession, url: str, headers: dict[str, str], i: int) -> str | None:
    """One request; its request id if the client saw it complete, else None (cut off by the kill)."""
    body: dict[str, object] = {"model": "chat", "messages": [{"role": "user", "content": f"kill load {i}"}]}
    stream = i % 2 == 1
    if stream:
        body["stream"] = True
    try:
        async with http.post(f"{url}/v1/chat/completions", json=body, headers=headers) as resp:
            if resp.status != 200:
                return None
            rid = resp.headers["x-request-id"]
            if not stream:
                completion = await resp.json()
                return rid if completion["choices"] else None
            async for line in resp.content:
                if line.strip() == b"data: [DONE]":
                    return rid
            return None
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None  # the gateway died mid-request: not complete for the client


async def _load(url: str, headers: dict[str, str], stop: asyncio.Event, completed: list[str], offset: int) -> int:
    """CLIENTS concurrent callers until `stop`; returns how many requests were sent."""
    sent = 0

    async def caller(worker: int) -> None:
        nonlocal sent
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            i = worker
            while not stop.is_set():
                sent += 1
                rid = await _call(http, url, headers, offset + i)
                if rid is not None:
                    completed.append(rid)
                i += CLIENTS

    await asyncio.gather(*(caller(worker) for worker in range(CLIENTS)))
    return sent


async def test_ten_sigkills_lose_and_double_no_completed_request(
    tmp_path, run_dir, gateway_base_env, usage_writer, make_tenant, runtime_sessions
):
    env = {**gateway_base_env, "GATEWAY_USAGE_WAL_DIR": str(tmp_path)}
    tenant = await make_tenant()
    completed: list[str] = []
    sent = 0
    rng = random.Random(12)
    for round_ in range(KILLS):
        proc, url = await asyncio.to_thread(start_gateway, run_dir, env, f"gateway-kill-{round_}")
        try:
            stop = asyncio.Event()
            load = asyncio.create_task(_load(url, tenant.auth, stop, completed, round_ * 100_000))
            await asyncio.sleep(rng.uniform(0.8, 1.6))
        finally:
            proc.kill()  # SIGKILL mid-load: responses and streams in flight are cut off
        stop.set()
        sent += await load
    # The last kill's log is replayed by one more gateway, as every earlier one was by its successor.
    last, _ = await asyncio.to_thread(start_gateway, run_dir, env, "gateway-kill-final")
    try:
        want = set(completed)
        assert len(want) == len(completed), "request ids are unique"
        assert len(want) >= KILLS * 20, f"the load ran: {len(want)} completed of {sent} sent"
        rows: dict[str, int] = {}
        for _ in range(300):
            async with tenant_session(runtime_sessions, tenant.id) as session:
                result = await session.execute(text("select request_id, count(*) from requests group by 1"))
                rows = {request_id: count for request_id, count in result.all()}
            if want <= rows.keys():
                break
            await asyncio.sleep(0.1)
        missing = want - rows.keys()
        assert not missing, f"{len(missing)} completed requests unmetered of {len(want)}"
        assert {rid: n for rid, n in rows.items() if n != 1} == {}, "no request metered twice"
        # Rows beyond `want` are requests cut off after they were written ahead (metered, never seen complete).
        assert len(rows) <= sent
        leftovers = {path.name for path in tmp_path.glob("gateway-usage-*.wal")}
        assert len(leftovers) == 1, f"every dead gateway's log was replayed and removed: {leftovers}"
    finally:
        with contextlib.suppress(Exception):
            last.stop()
