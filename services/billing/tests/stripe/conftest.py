"""pytest plugin for billing's Stripe tests: a Stripe stand-in process, a private NATS, factories.

Fixtures of the Stripe tests in this folder. The stand-in (`stripe_sim_url`, from ../conftest.py) is
shared by the whole session and never reset (a running sync worker holds its meter), so
tests look only at their own tenant's customer and idempotency keys.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import admin_session
from aiaas.events import EventEnvelope, event_id
from aiaas.events.schemas import INVOICE_FINALIZED, USAGE_METERED, InvoiceFinalized, InvoiceLine, UsageMetered
from aiaas_testing import NatsServer
from billing.stripe.client import StripeApi
from billing.stripe.config import StripeSettings
from billing.stripe.consumers import StripeSync

STRIPE_KEY = "sk_test_billing_sync"
WEBHOOK_SECRET = "whsec_billing_tests"


@pytest.fixture(scope="session")
def private_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A NATS + JetStream server of our own: the sync's durable consumer sees only these tests' events."""
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def sim_control(stripe_sim_url: str) -> AsyncIterator[httpx2.AsyncClient]:
    """Plain HTTP client for the stand-in's control API."""
    async with httpx2.AsyncClient(base_url=stripe_sim_url, timeout=10) as client:
        yield client


@pytest.fixture
def stripe_settings(stripe_sim_url: str) -> StripeSettings:
    return StripeSettings(
        api_key=STRIPE_KEY,
        api_base=stripe_sim_url,
        webhook_secret=WEBHOOK_SECRET,
        retry_attempts=4,
        retry_base_delay_s=0.01,
        retry_max_delay_s=0.05,
    )


@pytest.fixture
async def stripe_api(stripe_settings: StripeSettings) -> AsyncIterator[StripeApi]:
    api = StripeApi(stripe_settings)
    yield api
    await api.close()


@pytest.fixture
async def stripe_sync(stripe_api: StripeApi, runtime_sessions: async_sessionmaker[AsyncSession]) -> StripeSync:
    """The sync, in process, with its meter ensured."""
    sync = StripeSync(stripe_api, runtime_sessions, meter_event_name="aiaas_tokens")
    await sync.ensure_meter()
    return sync


def _metered_event(tenant_id: uuid.UUID, tokens_in: int, tokens_out: int) -> EventEnvelope:
    """A `billing.usage.metered` envelope for a fresh gateway request."""
    source = uuid.uuid4()
    data = UsageMetered(
        source_event_id=source,
        period_start=clock.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0),
        model_alias="gpt-4o-mini",
        tier="small",
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        requests=1,
        charge_minor=Decimal("0.0125"),
    )
    return EventEnvelope(
        id=event_id(USAGE_METERED, str(source)),
        type=USAGE_METERED,
        tenant_id=tenant_id,
        data=data.model_dump(mode="json"),
    )


def _finalized_event(
    tenant_id: uuid.UUID, invoice_id: uuid.UUID, *, credits: int = 300, tax: int = 170
) -> EventEnvelope:
    """A `billing.invoice.finalized` envelope: base fee 2000 + usage 125, minus credits, plus tax."""
    start = datetime(2026, 10, 1, tzinfo=UTC)
    lines = [
        InvoiceLine(
            description="Pro plan", tier=None, quantity=1, unit_amount_minor=Decimal("2000"), amount_minor=2000
        ),
        InvoiceLine(
            description="small tier tokens",
            tier="small",
            quantity=250_000,
            unit_amount_minor=Decimal("0.05"),
            amount_minor=125,
        ),
    ]
    data = InvoiceFinalized(
        invoice_id=invoice_id,
        period_start=start,
        period_end=start + timedelta(days=31),
        currency="usd",
        subtotal_minor=2125,
        credits_applied_minor=credits,
        tax_minor=tax,
        total_minor=2125 - credits + tax,
        lines=lines,
    )
    return EventEnvelope(
        id=event_id(INVOICE_FINALIZED, str(invoice_id)),
        type=INVOICE_FINALIZED,
        tenant_id=tenant_id,
        data=data.model_dump(mode="json"),
    )


@pytest.fixture
def billing_rows(
    admin_sessions: async_sessionmaker[AsyncSession],
) -> Callable[[uuid.UUID], Awaitable[uuid.UUID]]:
    """Factory: a tenant's subscription (pro, active) and one finalized invoice (open); returns the invoice id."""

    async def make(tenant_id: uuid.UUID) -> uuid.UUID:
        invoice_id = uuid.uuid4()
        # The invoiced period ended two weeks ago (by the clock); the subscription's period holds now.
        start = clock.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=45)
        params: dict[str, Any] = {
            "tid": tenant_id,
            "iid": invoice_id,
            "start": start,
            "end": start + timedelta(days=31),
            "next_end": start + timedelta(days=61),
        }
        async with admin_session(admin_sessions) as session:
            await session.execute(
                text(
                    "insert into subscriptions (tenant_id, plan_code, current_period_start, current_period_end, "
                    "plan_since) values (:tid, 'pro', :end, :next_end, :end)"
                ),
                params,
            )
            await session.execute(
                text(
                    "insert into invoices (id, tenant_id, plan_code, period_start, period_end, currency, "
                    "subtotal_minor, credits_applied_minor, tax_rate, tax_minor, total_minor) "
                    "values (:iid, :tid, 'pro', :start, :end, 'usd', 2125, 300, 0.1, 170, 1995)"
                ),
                params,
            )
        return invoice_id

    return make


async def _eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    """Poll `check` until it holds (a worker in another process is doing the work)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


# The helpers reach test modules as fixtures: importing this plugin module from a test module
# would load it before pytest could rewrite its asserts.
@pytest.fixture
def metered_event() -> Callable[[uuid.UUID, int, int], EventEnvelope]:
    """Factory: a `billing.usage.metered` envelope (tenant, tokens_in, tokens_out)."""
    return _metered_event


@pytest.fixture
def finalized_event() -> Callable[..., EventEnvelope]:
    """Factory: a `billing.invoice.finalized` envelope (tenant, invoice id; credits=, tax=)."""
    return _finalized_event


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    """Poll an async check until it holds (`timeout_s=`), for work done by another process."""
    return _eventually


@pytest.fixture
def webhook_secret() -> str:
    """The signing secret the stand-in's endpoints and the webhook under test share."""
    return WEBHOOK_SECRET


@pytest.fixture
def stripe_key() -> str:
    return STRIPE_KEY
