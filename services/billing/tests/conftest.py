"""Billing test fixtures: the real API and meter processes on the shared Postgres, NATS and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import httpx2
import nats
import pytest
from sqlalchemy import text

from aiaas import clock
from aiaas.db import admin_session
from aiaas.events import EventEnvelope, EventPublisher, ensure_topology, event_id
from aiaas.events.schemas import USAGE_RECORDED, UsageRecorded
from aiaas_testing import InfraUrls, ServiceProcess, TenantWithKey, free_port

TAX_RATE = "0.1"
# Billing's Stripe settings against the session's stand-in (top-ups create Checkout Sessions there).
STRIPE_API_KEY = "sk_test_billing_api"
STRIPE_WEBHOOK_SECRET = "whsec_billing_api_tests"
CHECKOUT_EVENTS = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
]


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


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("billing-run")


@pytest.fixture(scope="session")
def stripe_sim_url(run_dir: Path) -> Iterator[str]:
    """A `python -m stripe_sim` process for the session (billing's Stripe)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        ["-m", "stripe_sim", "--host", "127.0.0.1", "--port", str(port)],
        env={},
        log_path=run_dir / f"stripe-sim-{port}.log",
        ready_url=f"{url}/health",
    ).start(timeout_s=20)
    yield url
    process.stop()


@pytest.fixture(scope="session")
def billing_url(run_dir: Path, infra_urls: InfraUrls, stripe_sim_url: str) -> Iterator[str]:
    """One billing API process shared by the tests."""
    port = free_port()
    proc = ServiceProcess(
        ["-m", "billing", "--host", "127.0.0.1", "--port", str(port)],
        env=billing_env(infra_urls, STRIPE_API_KEY=STRIPE_API_KEY, STRIPE_API_BASE=stripe_sim_url),
        log_path=run_dir / f"billing-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(scope="session")
def billing_admin_url(run_dir: Path, infra_urls: InfraUrls, stripe_sim_url: str) -> Iterator[str]:
    """One billing admin listener (`/admin/billing/*`, `/webhooks/stripe`) shared by the tests.

    The stand-in sends it the checkout.session.* events (signed with STRIPE_WEBHOOK_SECRET).
    """
    port = free_port()
    proc = ServiceProcess(
        ["-m", "billing.admin", "--host", "127.0.0.1", "--port", str(port)],
        env=billing_admin_env(infra_urls, STRIPE_WEBHOOK_SECRET=STRIPE_WEBHOOK_SECRET),
        log_path=run_dir / f"billing-admin-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    endpoint = {
        "url": f"http://127.0.0.1:{port}/webhooks/stripe",
        "secret": STRIPE_WEBHOOK_SECRET,
        "enabled_events": CHECKOUT_EVENTS,
    }
    registered = httpx2.post(f"{stripe_sim_url}/_sim/webhook_endpoints", json=endpoint, timeout=10)
    assert registered.status_code == 201, registered.text
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(scope="module")
def meter(run_dir: Path, infra_urls: InfraUrls) -> Iterator[ServiceProcess]:
    """The meter process (consumer, outbox relay, alert deliverer, quota reconcile).

    Per module, not per session: left running, it would meter (and relay the outbox rows of) the later
    suites' tenants against the shared NATS, under their feet.
    """
    proc = ServiceProcess(
        ["-m", "billing.meter"], env=billing_admin_env(infra_urls), log_path=run_dir / "meter.log"
    ).start()
    yield proc
    proc.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def publisher(infra_urls: InfraUrls) -> AsyncIterator[EventPublisher]:
    nc = await nats.connect(infra_urls.nats_url)
    # On a fresh NATS the streams exist only once some service declared them: declare them here.
    await ensure_topology(nc.jetstream(), consumers=())
    yield EventPublisher(nc.jetstream())
    await nc.close()


@pytest.fixture
async def tenant(make_tenant) -> TenantWithKey:
    return await make_tenant()


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
    """A valid usage.recorded envelope, as the gateway emits it."""
    now = clock.now()
    request_id = request_id or f"req-{uuid.uuid4().hex}"
    data = UsageRecorded(
        request_id=request_id,
        api_key_id=tenant.key_id,
        model_alias=model,
        provider="sim",
        deployment="d1",
        upstream_model=model,
        stream=False,
        status="success",
        http_status=200,
        error_code=None,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd="0.001",
        latency_ms=10.0,
        ttft_ms=None,
        attempts=1,
        started_at=now,
        completed_at=now,
    )
    return EventEnvelope(
        id=event_id(USAGE_RECORDED, request_id),
        type=USAGE_RECORDED,
        tenant_id=tenant.id,
        data=data.model_dump(mode="json"),
    )


async def wait_for(predicate, timeout_s: float = 60.0, interval_s: float = 0.1):
    """Poll an async predicate until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met in {timeout_s}s (last value {value!r})")
        await asyncio.sleep(interval_s)


async def ledger_count(admin_sessions, tenant_id: uuid.UUID) -> int:
    async with admin_session(admin_sessions) as session:
        return int(
            (
                await session.execute(text("select count(*) from usage_ledger where tenant_id = :t"), {"t": tenant_id})
            ).scalar_one()
        )


async def wait_metered(admin_sessions, tenant_id: uuid.UUID, count: int) -> None:
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
) -> dict:
    """Credit a tenant through the audited admin grant (the only way to credit without a Stripe payment)."""
    async with http.post(
        f"{admin_url}/admin/billing/tenants/{tenant_id}/credit-grants",
        json={"amount_minor": amount_minor, "reason": reason},
        headers={**headers, "Idempotency-Key": key or f"grant-{uuid.uuid4()}"},
    ) as resp:
        assert resp.status in (200, 201), await resp.text()
        return await resp.json()


async def subscribe(admin_sessions, tenant_id: uuid.UUID, plan: str, start: datetime, end: datetime) -> None:
    """Put a tenant on `plan` for a fixed period (deterministic invoices)."""
    async with admin_session(admin_sessions) as session:
        await session.execute(
            text(
                "insert into subscriptions (tenant_id, plan_code, current_period_start, current_period_end, plan_since)"
                " values (:t, :p, :s, :e, :s)"
            ),
            {"t": tenant_id, "p": plan, "s": start, "e": end},
        )
