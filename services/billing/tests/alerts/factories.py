"""Helpers of the alert delivery tests: a webhook receiver, a tenant with an alert endpoint, its deliveries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from aiohttp import web
from sqlalchemy import text

from aiaas.db import admin_session
from aiaas_testing import serve_local

from ..factories import create_plan, current_period, subscribe

PERIOD = current_period()
PRICES = {"standard": {"input_minor_per_1k": "1", "output_minor_per_1k": "1"}}


class Receiver:
    """A real local HTTP server that answers 500 to the first `failures` requests."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls: list[tuple[dict[str, str], bytes, int]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = 500 if len(self.calls) < self.failures else 204
        self.calls.append((dict(request.headers), body, status))
        return web.Response(status=status)

    def serving(self) -> AbstractAsyncContextManager[str]:
        """Listen on 127.0.0.1 while the block runs; yields the hook's URL."""
        return hook_url(self.handle)


@asynccontextmanager
async def hook_url(handler: Callable[[web.Request], Awaitable[web.Response]]) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", handler)
    async with serve_local(app) as base:
        yield f"{base}/hook"


async def deliveries(admin_sessions, tenant_id) -> list[tuple]:
    async with admin_session(admin_sessions) as session:
        rows = await session.execute(
            text(
                "select threshold_pct, status, attempts, last_error from alert_deliveries where tenant_id = :t"
                " order by threshold_pct"
            ),
            {"t": tenant_id},
        )
        return [tuple(row) for row in rows.all()]


async def tenant_with_alerts(http, billing_url, billing_admin_url, admin_headers, tenant, admin_sessions, url) -> str:
    plan = await create_plan(
        http, billing_admin_url, admin_headers, included_tokens=1000, overage_policy="bill", prices=PRICES
    )
    await subscribe(admin_sessions, tenant.id, plan, *PERIOD)
    async with http.put(f"{billing_url}/v1/billing/alerts", json={"url": url}, headers=tenant.auth) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["secret"].startswith("whsec_")
    return body["secret"]
