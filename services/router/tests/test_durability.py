"""A decision is answered before it is durable, yet never lost: a router killed while its decisions wait in the
publish batch leaves them in its write-ahead file, and the next router on that directory publishes them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from aiaas_testing import TenantWithKey, wait_for

from .factories import RouterProcess, body, decide


async def test_decisions_of_a_killed_router_are_recorded_after_a_restart(
    start_router: Callable[..., RouterProcess],
    consumer: str,
    run_dir: Path,
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    http: aiohttp.ClientSession,
) -> None:
    wal = str(run_dir / "wal-killed")
    # A minute's linger: the decisions are answered and sit in the batch, written ahead only.
    router = start_router("killed", ROUTER_WAL_DIR=wal, ROUTER_EMIT_LINGER_S="60")
    tenant = await make_tenant()
    made = {
        (await decide(http, router.url, tenant.auth, body(f"Write a limerick about ship {n}.")))["decision_id"]
        for n in range(3)
    }
    router.process.kill()

    restarted = start_router("killed-restarted", ROUTER_WAL_DIR=wal)

    async def recorded() -> set[str]:
        async with http.get(f"{restarted.url}/v1/router/decisions", headers=tenant.auth) as resp:
            assert resp.status == 200
            return {row["id"] for row in (await resp.json())["data"]}

    async def all_recorded() -> bool:
        return await recorded() == made

    await wait_for(all_recorded, timeout_s=30)
