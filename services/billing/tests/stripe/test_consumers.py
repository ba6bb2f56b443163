"""Billing's Stripe sync in process: meter events and invoices reach Stripe exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import pytest
import stripe
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.events import EventEnvelope
from aiaas_testing import TenantWithKey
from billing.stripe.client import StripeApi
from billing.stripe.consumers import StripeSync

MakeTenant = Callable[..., Awaitable[TenantWithKey]]


async def _customer(sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID) -> str:
    async with tenant_session(sessions, tenant_id) as session:
        query = text("select stripe_customer_id from stripe_customers where tenant_id = :tid")
        return (await session.execute(query, {"tid": tenant_id})).scalar_one()


async def _totals(sim_control: httpx2.AsyncClient, customer: str) -> list[dict[str, Any]]:
    ledger = (await sim_control.get("/_sim/meter_events")).json()
    return [total for total in ledger["totals"] if total["customer"] == customer]


async def test_usage_is_metered_once_even_when_replayed(
    stripe_sync: StripeSync,
    sim_control: httpx2.AsyncClient,
    make_tenant: MakeTenant,
    runtime_sessions: async_sessionmaker[AsyncSession],
    metered_event: Callable[..., EventEnvelope],
) -> None:
    tenant = await make_tenant()
    events = [metered_event(tenant.id, 100, 20), metered_event(tenant.id, 30, 5)]
    assert [await stripe_sync.sync_event(event) for event in events] == ["sent", "sent"]
    assert [await stripe_sync.sync_event(event) for event in events] == ["sent", "sent"]  # idempotent replays
    customer = await _customer(runtime_sessions, tenant.id)
    assert await _totals(sim_control, customer) == [
        {"customer": customer, "meter": stripe_sync.meter_id, "event_name": "aiaas_tokens", "value": "155", "events": 2}
    ]
    log = (await sim_control.get("/_sim/requests", params={"idempotency_key": str(events[0].id)})).json()["requests"]
    assert [entry["replayed"] for entry in log] == [False, True]
    assert log[0]["params"]["identifier"] == events[0].data["source_event_id"]
    # Past Stripe's 24 h idempotency window the identifier check still refuses the copy.
    await sim_control.delete("/_sim/idempotency_keys")
    assert await stripe_sync.sync_event(events[0]) == "duplicate"
    assert (await _totals(sim_control, customer))[0]["value"] == "155"
    customers = (
        await sim_control.get("/_sim/requests", params={"idempotency_key": f"aiaas-customer-{tenant.id}"})
    ).json()
    assert [entry["replayed"] for entry in customers["requests"]] == [False]


async def test_invoice_is_synced_once_with_matching_total(
    stripe_sync: StripeSync,
    stripe_api: StripeApi,
    sim_control: httpx2.AsyncClient,
    make_tenant: MakeTenant,
    runtime_sessions: async_sessionmaker[AsyncSession],
    finalized_event: Callable[..., EventEnvelope],
) -> None:
    tenant = await make_tenant()
    invoice_id = uuid.uuid4()
    event = finalized_event(tenant.id, invoice_id)
    assert await stripe_sync.sync_event(event) == "synced"
    assert await stripe_sync.sync_event(event) == "already_synced"
    async with tenant_session(runtime_sessions, tenant.id) as session:
        row = (
            await session.execute(
                text("select stripe_invoice_id, synced_at from stripe_invoices where invoice_id = :iid"),
                {"iid": invoice_id},
            )
        ).one()
    assert row.synced_at is not None
    invoice = await stripe_api.client.v1.invoices.retrieve_async(row.stripe_invoice_id)
    assert (invoice.status, invoice.currency, invoice.total, invoice.auto_advance) == ("open", "usd", 1995, True)
    assert [(line.amount, line.description) for line in invoice.lines.data] == [
        (2000, "Pro plan"),
        (125, "small tier tokens"),
        (-300, "Prepaid credits applied"),
        (170, "Tax"),
    ]
    assert invoice.lines.data[1].metadata.to_dict() == {
        "tier": "small",
        "quantity": "250000",
        "unit_amount_minor": "0.05",
        "aiaas_invoice_id": str(invoice_id),
        "aiaas_line": "1",
    }
    creates = (
        await sim_control.get("/_sim/requests", params={"idempotency_key": f"aiaas-invoice-{invoice_id}"})
    ).json()
    assert len(creates["requests"]) == 1


async def test_interrupted_invoice_sync_resumes_on_the_same_invoice(
    stripe_sync: StripeSync,
    stripe_api: StripeApi,
    sim_control: httpx2.AsyncClient,
    make_tenant: MakeTenant,
    finalized_event: Callable[..., EventEnvelope],
) -> None:
    """Items fail past the retries; a day later (keys expired) the redelivery finishes the same invoice."""
    tenant = await make_tenant()
    invoice_id = uuid.uuid4()
    event = finalized_event(tenant.id, invoice_id)
    # The first line goes through, then every item write fails for longer than the retry policy lasts.
    await sim_control.post("/_sim/faults", json={"status": 503, "count": 1, "path_prefix": "/v1/invoiceitems"})
    await sim_control.delete("/_sim/faults")
    calls = 0
    original = stripe_api.client.v1.invoice_items.create_async

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            await sim_control.post("/_sim/faults", json={"status": 503, "count": 4, "path_prefix": "/v1/invoiceitems"})
        return await original(*args, **kwargs)

    stripe_api.client.v1.invoice_items.create_async = flaky  # type: ignore[method-assign]
    try:
        with pytest.raises(stripe.APIError):
            await stripe_sync.sync_event(event)
    finally:
        stripe_api.client.v1.invoice_items.create_async = original  # type: ignore[method-assign]
    await sim_control.delete("/_sim/idempotency_keys")
    assert await stripe_sync.sync_event(event) == "synced"
    invoices = (await sim_control.get("/_sim/requests", params={"path_prefix": "/v1/invoices"})).json()["requests"]
    created = [
        e
        for e in invoices
        if e["path"] == "/v1/invoices" and e["params"]["metadata"]["aiaas_invoice_id"] == str(invoice_id)
    ]
    assert len(created) == 1
    customer = created[0]["params"]["customer"]
    listed = await stripe_api.client.v1.invoices.list_async(params={"customer": customer})
    assert len(listed.data) == 1
    assert [line.metadata["aiaas_line"] for line in listed.data[0].lines.data] == ["0", "1", "2", "3"]
    assert (listed.data[0].status, listed.data[0].total) == ("open", 1995)


async def test_transient_errors_are_retried(
    stripe_sync: StripeSync,
    sim_control: httpx2.AsyncClient,
    make_tenant: MakeTenant,
    runtime_sessions: async_sessionmaker[AsyncSession],
    metered_event: Callable[..., EventEnvelope],
) -> None:
    tenant = await make_tenant()
    event = metered_event(tenant.id, 7, 3)
    await stripe_sync.sync_event(metered_event(tenant.id, 1, 0))  # creates the customer first
    await sim_control.post("/_sim/faults", json={"status": 429, "count": 1, "path_prefix": "/v1/billing/meter_events"})
    await sim_control.post(
        "/_sim/faults", json={"status": 500, "count": 1, "when": "after", "path_prefix": "/v1/billing/meter_events"}
    )
    assert await stripe_sync.sync_event(event) == "sent"
    log = (await sim_control.get("/_sim/requests", params={"idempotency_key": str(event.id)})).json()["requests"]
    assert [(e["status"], e["fault"], e["replayed"]) for e in log] == [
        (429, "429 before", False),
        (500, "500 after", False),
        (200, None, True),
    ]
    customer = await _customer(runtime_sessions, tenant.id)
    assert (await _totals(sim_control, customer))[0]["value"] == "11"


async def test_other_billing_events_are_ignored(stripe_sync: StripeSync, make_tenant: MakeTenant) -> None:
    tenant = await make_tenant()
    event = EventEnvelope(id=uuid.uuid4(), type="billing.plan.changed", tenant_id=tenant.id, data={"new_plan": "pro"})
    assert await stripe_sync.sync_event(event) == "ignored"
