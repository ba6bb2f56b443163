"""Helpers the billing tests import: process env, usage events, plans, credit, subscriptions (fixtures: conftest)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import admin_session
from aiaas.events import EventEnvelope
from aiaas_testing import InfraUrls, TenantWithKey, wait_for
from aiaas_testing.events import usage_recorded

TAX_RATE = "0.1"
# Billing's Stripe settings against the session's stand-in (top-ups create Checkout Sessions there).
STRIPE_API_KEY = "sk_test_billing_api"
STRIPE_WEBHOOK_SECRET = "whsec_billing_api_tests"


def billing_env(infra_urls: InfraUrls, **overrides: str) -> dict[str, str]:
    """The tenant API's env: app_runtime only (aiaas.roles)."""
    env = {
        "DATABASE_URL": infra_urls.database_url,
        "NATS_URL": infra_urls.nats_url,
        "REDIS_URL": infra_urls.redis_url,
        "BILLING_TAX_RATE": TAX_RATE,
        "BILLING_AUTH_CACHE_TTL_S": "0.5",
        "BILLING_CATALOGUE_TTL_S": "0.5",
        "BILLING_METER_METRICS_PORT": "0",
        "BILLING_RECONCILE_INTERVAL_S": "1",
        "BILLING_ALERT_BASE_DELAY_S": "0.2",
        "BILLING_ALERT_MAX_DELAY_S": "1",
        "BILLING_ALERT_MAX_ATTEMPTS": "4",
        "BILLING_ALERT_POLL_S": "0.1",
        "BILLING_ALERT_ALLOW_INTERNAL_URLS": "true",  # the receivers run on 127.0.0.1
        "LOG_LEVEL": "WARNING",
        # Service processes read the same (possibly shifted) clock as the tests.
        clock.OFFSET_ENV: repr(clock.offset_s()),
    }
    env.update(overrides)
    return env


def billing_admin_env(infra_urls: InfraUrls, **overrides: str) -> dict[str, str]:
    """The env of the billing processes that cross tenants (admin listener, meter, close-periods)."""
    return billing_env(infra_urls, ADMIN_DATABASE_URL=infra_urls.admin_database_url, **overrides)


def day_start(moment: datetime) -> datetime:
    """Midnight UTC of `moment`'s day."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def current_period() -> tuple[datetime, datetime]:
    """A 30-day subscription period around the clock's now (15 days each side): open for any test's length."""
    start = day_start(clock.now()) - timedelta(days=15)
    return start, start + timedelta(days=30)


def usage_event(
    tenant: TenantWithKey, model: str, tokens_in: int, tokens_out: int, request_id: str | None = None
) -> EventEnvelope:
    """A valid usage.recorded envelope, as the gateway emits it (started and completed now)."""
    now = clock.now()
    return usage_recorded(
        tenant.id,
        tenant.key_id,
        model=model,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        request_id=request_id,
        deployment="d1",
        upstream_model=model,
        started_at=now,
        completed_at=now,
    )


async def ledger_count(admin_sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID) -> int:
    """How many usage_ledger rows the tenant has (one per metered request)."""
    async with admin_session(admin_sessions) as session:
        return int(
            (
                await session.execute(text("select count(*) from usage_ledger where tenant_id = :t"), {"t": tenant_id})
            ).scalar_one()
        )


async def wait_metered(admin_sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, count: int) -> None:
    """Wait until the meter has written `count` ledger rows for the tenant."""

    async def done() -> bool:
        return await ledger_count(admin_sessions, tenant_id) >= count

    await wait_for(done)


async def create_plan(http: aiohttp.ClientSession, url: str, headers: dict[str, str], **fields: object) -> str:
    """A fresh plan through the admin API; returns its code."""
    code = f"t{uuid.uuid4().hex[:12]}"
    body = {"code": code, "name": f"Test {code}", **fields}
    async with http.post(f"{url}/admin/billing/plans", json=body, headers=headers) as resp:
        assert resp.status == 201, await resp.text()
    # The admin listener invalidated its own catalogue; the tenant API and the meter reload theirs
    # within BILLING_CATALOGUE_TTL_S (0.5 s here): wait that out, or a fast test sees plan_not_found.
    await asyncio.sleep(0.6)
    return code


async def grant_credit(
    http: aiohttp.ClientSession,
    admin_url: str,
    headers: dict[str, str],
    tenant_id: uuid.UUID,
    amount_minor: int,
    reason: str = "test credit",
    key: str | None = None,
) -> dict[str, Any]:
    """Credit a tenant through the audited admin grant (the only way to credit without a Stripe payment)."""
    async with http.post(
        f"{admin_url}/admin/billing/tenants/{tenant_id}/credit-grants",
        json={"amount_minor": amount_minor, "reason": reason},
        headers={**headers, "Idempotency-Key": key or f"grant-{uuid.uuid4()}"},
    ) as resp:
        assert resp.status in (200, 201), await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def subscribe(
    admin_sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, plan: str, start: datetime, end: datetime
) -> None:
    """Put a tenant on `plan` for a fixed period (deterministic invoices)."""
    async with admin_session(admin_sessions) as session:
        await session.execute(
            text(
                "insert into subscriptions (tenant_id, plan_code, current_period_start, current_period_end, plan_since)"
                " values (:t, :p, :s, :e, :s)"
            ),
            {"t": tenant_id, "p": plan, "s": start, "e": end},
        )
