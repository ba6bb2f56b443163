"""`POST /webhooks/stripe` behind a real server, fed by the stand-in's signed deliveries."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
import stripe
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session, tenant_session
from aiaas.errors import install_error_handlers
from aiaas.events import EventEnvelope
from aiaas_testing import TenantWithKey, free_port
from billing.stripe.client import StripeApi
from billing.stripe.consumers import StripeSync
from billing.stripe.endpoints import router, webhook_context
from billing.stripe.service import StripeWebhookContext

HANDLED = ["invoice.paid", "invoice.payment_failed", "customer.subscription.updated", "customer.subscription.deleted"]


@pytest.fixture
async def webhook_url(
    runtime_sessions: async_sessionmaker[AsyncSession],
    admin_sessions: async_sessionmaker[AsyncSession],
    webhook_secret: str,
) -> AsyncIterator[str]:
    """A small FastAPI app (error handlers + the router) served by uvicorn on a free port."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        yield {"stripe_webhook": StripeWebhookContext(webhook_secret, runtime_sessions, admin_sessions)}

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(router)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}/webhooks/stripe"
    server.should_exit = True
    await task


@pytest.fixture
async def registered(webhook_url: str, sim_control: httpx2.AsyncClient, webhook_secret: str) -> str:
    """The endpoint registered with the stand-in for the event types billing handles."""
    response = await sim_control.post(
        "/_sim/webhook_endpoints", json={"url": webhook_url, "secret": webhook_secret, "enabled_events": HANDLED}
    )
    assert response.status_code == 201
    return webhook_url


async def _payment_status(admin: async_sessionmaker[AsyncSession], invoice_id: uuid.UUID) -> str:
    async with admin_session(admin) as session:
        query = text("select payment_status from invoices where id = :iid")
        return (await session.execute(query, {"iid": invoice_id})).scalar_one()


async def _subscription_status(admin: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID) -> str:
    async with admin_session(admin) as session:
        query = text("select status from subscriptions where tenant_id = :tid")
        return (await session.execute(query, {"tid": tenant_id})).scalar_one()


async def _recorded(admin: async_sessionmaker[AsyncSession], event_id: str) -> list[tuple[str, str | None]]:
    async with admin_session(admin) as session:
        query = text("select outcome, tenant_id::text from stripe_webhook_events where event_id = :eid")
        return [(row.outcome, row.tenant_id) for row in await session.execute(query, {"eid": event_id})]


async def _deliveries(sim_control: httpx2.AsyncClient, url: str) -> list[dict[str, Any]]:
    response = await sim_control.get("/_sim/webhook_deliveries", params={"wait": "true"})
    return [d for d in response.json()["deliveries"] if d["url"] == url]


async def test_invoice_paid_is_applied_once_despite_three_deliveries(
    registered: str,
    sim_control: httpx2.AsyncClient,
    stripe_sync: StripeSync,
    stripe_api: StripeApi,
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    billing_rows: Callable[[uuid.UUID], Awaitable[uuid.UUID]],
    admin_sessions: async_sessionmaker[AsyncSession],
    finalized_event: Callable[..., EventEnvelope],
) -> None:
    tenant = await make_tenant()
    invoice_id = await billing_rows(tenant.id)
    assert await stripe_sync.sync_event(finalized_event(tenant.id, invoice_id)) == "synced"
    assert await _payment_status(admin_sessions, invoice_id) == "open"
    async with admin_session(admin_sessions) as session:
        query = text("select stripe_invoice_id from stripe_invoices where invoice_id = :iid")
        stripe_invoice_id = (await session.execute(query, {"iid": invoice_id})).scalar_one()
    stripe_invoice = await stripe_api.client.v1.invoices.retrieve_async(stripe_invoice_id)
    await stripe_api.client.v1.invoices.pay_async(stripe_invoice.id)  # the stand-in sends invoice.paid
    paid = [d for d in await _deliveries(sim_control, registered) if d["type"] == "invoice.paid"]
    assert [(d["status"], d["ok"]) for d in paid] == [(200, True)]
    assert await _payment_status(admin_sessions, invoice_id) == "paid"
    for _ in range(2):  # Stripe retries deliveries; each answer is 200 and changes nothing
        again = (await sim_control.post("/_sim/emit", json={"event_id": paid[0]["event"]})).json()
        [answer] = [d for d in again["deliveries"] if d["url"] == registered]
        assert answer["status"] == 200
        assert '"outcome":"duplicate"' in answer["response"]
    assert await _recorded(admin_sessions, paid[0]["event"]) == [("processed", str(tenant.id))]
    assert await _payment_status(admin_sessions, invoice_id) == "paid"


async def test_bad_signatures_are_refused_and_change_nothing(
    webhook_url: str, admin_sessions: async_sessionmaker[AsyncSession], webhook_secret: str
) -> None:
    event_id = f"evt_{uuid.uuid4().hex}"
    payload = (
        f'{{"id": "{event_id}", "object": "event", "type": "invoice.paid", "created": {int(time.time())}, '
        '"data": {"object": {"id": "in_unknown", "object": "invoice"}}}'
    )
    now = int(time.time())
    good = stripe.WebhookSignature.generate_signature_header(payload, webhook_secret, now)
    cases: list[tuple[str, dict[str, str]]] = [
        (payload, {}),  # no header
        (payload.replace("in_unknown", "in_tampered"), {"Stripe-Signature": good}),
        (
            payload,
            {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(payload, webhook_secret, now - 600)},
        ),
        (payload, {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(payload, "whsec_other", now)}),
        (payload, {"Stripe-Signature": "garbage"}),
    ]
    async with httpx2.AsyncClient(timeout=10) as http:
        for body, headers in cases:
            response = await http.post(webhook_url, content=body, headers=headers)
            assert response.status_code == 400, response.text
            assert response.json()["error"]["type"] == "invalid_request_error"
            assert response.json()["error"]["code"] == "invalid_signature"
        assert await _recorded(admin_sessions, event_id) == []
        not_json = "not json"
        header = stripe.WebhookSignature.generate_signature_header(not_json, webhook_secret, now)
        response = await http.post(webhook_url, content=not_json, headers={"Stripe-Signature": header})
        assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_payload")
        accepted = await http.post(webhook_url, content=payload, headers={"Stripe-Signature": good})
        assert accepted.status_code == 200
        assert accepted.json() == {"received": True, "id": event_id, "outcome": "unmapped"}
    assert await _recorded(admin_sessions, event_id) == [("unmapped", None)]


async def test_signed_bodies_without_an_events_shape_are_400(webhook_url: str, webhook_secret: str) -> None:
    """Found by the OpenAPI fuzz's signed events (each was a 500): ids the event table refuses, a list
    where an object goes, a `created` that is not unix seconds, NUL in a field, an integer beyond 64 bits."""
    now = int(time.time())
    bodies: list[dict[str, Any]] = [
        {"id": "S", "type": "invoice.payment_failed"},
        {"id": "evt_1", "type": "invoice.voided", "data": []},
        {"id": "evt_2", "type": "invoice.voided", "data": {"object": [1]}},
        {"id": "evt_3", "type": "invoice.paid", "created": [[]]},
        {"id": "evt_4", "type": "invoice.paid", "created": -1},
        {"id": "evt_5", "type": "invoice.paid", "created": 10**20},
        {"id": "evt_6", "type": "invoice.paid", "data": {"object": {"id": "in_\u0000"}}},
        {"id": "evt_7", "type": "invoice.paid", "data": {"object": {"amount_due": 2**70}}},
    ]
    async with httpx2.AsyncClient(timeout=10) as http:
        for body in bodies:
            payload = json.dumps(body)
            header = stripe.WebhookSignature.generate_signature_header(payload, webhook_secret, now)
            response = await http.post(webhook_url, content=payload, headers={"Stripe-Signature": header})
            assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_payload"), body


async def test_subscription_status_follows_stripe(
    registered: str,
    sim_control: httpx2.AsyncClient,
    stripe_sync: StripeSync,
    stripe_api: StripeApi,
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    billing_rows: Callable[[uuid.UUID], Awaitable[uuid.UUID]],
    admin_sessions: async_sessionmaker[AsyncSession],
    finalized_event: Callable[..., EventEnvelope],
) -> None:
    tenant = await make_tenant()
    await billing_rows(tenant.id)
    assert await stripe_sync.sync_event(finalized_event(tenant.id, uuid.uuid4())) == "synced"
    client = stripe_api.client.v1
    async with admin_session(admin_sessions) as session:
        query = text("select stripe_customer_id from stripe_customers where tenant_id = :tid")
        customer = await client.customers.retrieve_async(
            (await session.execute(query, {"tid": tenant.id})).scalar_one()
        )
    assert customer.metadata["tenant_id"] == str(tenant.id)
    price = await client.prices.create_async(
        params={
            "currency": "usd",
            "unit_amount": 2000,
            "product_data": {"name": "Pro"},
            "recurring": {"interval": "month"},
        }
    )
    sub = await client.subscriptions.create_async(params={"customer": customer.id, "items": [{"price": price.id}]})
    emitted = (
        await sim_control.post(
            "/_sim/emit",
            json={"type": "customer.subscription.updated", "object_id": sub.id, "set": {"status": "past_due"}},
        )
    ).json()
    assert [d["status"] for d in emitted["deliveries"] if d["url"] == registered] == [200]
    assert await _subscription_status(admin_sessions, tenant.id) == "past_due"
    await client.subscriptions.cancel_async(sub.id)  # the stand-in sends customer.subscription.deleted
    deleted = [d for d in await _deliveries(sim_control, registered) if d["type"] == "customer.subscription.deleted"]
    assert [d["status"] for d in deleted][-1] == 200
    assert await _subscription_status(admin_sessions, tenant.id) == "canceled"
    # Stripe redelivering the older past_due event: recognised by its id, nothing changes.
    late = (await sim_control.post("/_sim/emit", json={"event_id": emitted["event"]["id"]})).json()
    [answer] = [d["response"] for d in late["deliveries"] if d["url"] == registered]
    assert '"outcome":"duplicate"' in answer
    assert await _subscription_status(admin_sessions, tenant.id) == "canceled"


async def test_an_older_event_arriving_late_is_not_applied(
    webhook_url: str,
    webhook_secret: str,
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    billing_rows: Callable[[uuid.UUID], Awaitable[uuid.UUID]],
    runtime_sessions: async_sessionmaker[AsyncSession],
    admin_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Stripe does not promise order: past_due (t-60) arriving after active (t) must not win."""
    tenant = await make_tenant()
    await billing_rows(tenant.id)
    customer, subscription = f"cus_late{uuid.uuid4().hex[:12]}", f"sub_late{uuid.uuid4().hex[:12]}"
    async with tenant_session(runtime_sessions, tenant.id) as session:
        await session.execute(
            text("insert into stripe_customers (tenant_id, stripe_customer_id) values (:tid, :cid)"),
            {"tid": tenant.id, "cid": customer},
        )
    now = int(time.time())

    async def deliver(status: str, created: int) -> dict[str, Any]:
        event_id = f"evt_{uuid.uuid4().hex}"
        payload = json.dumps(
            {
                "id": event_id,
                "object": "event",
                "type": "customer.subscription.updated",
                "created": created,
                "data": {
                    "object": {"id": subscription, "object": "subscription", "customer": customer, "status": status}
                },
            }
        )
        header = stripe.WebhookSignature.generate_signature_header(payload, webhook_secret, now)
        async with httpx2.AsyncClient(timeout=10) as http:
            response = await http.post(webhook_url, content=payload, headers={"Stripe-Signature": header})
        assert response.status_code == 200, response.text
        return response.json()

    assert (await deliver("past_due", now - 120))["outcome"] == "processed"
    assert await _subscription_status(admin_sessions, tenant.id) == "past_due"
    assert (await deliver("active", now))["outcome"] == "processed"
    assert (await deliver("past_due", now - 60))["outcome"] == "stale"
    assert await _subscription_status(admin_sessions, tenant.id) == "active"


async def test_declined_payment_then_paid(
    registered: str,
    stripe_sync: StripeSync,
    stripe_api: StripeApi,
    finalized_event: Callable[..., EventEnvelope],
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    billing_rows: Callable[[uuid.UUID], Awaitable[uuid.UUID]],
    sim_control: httpx2.AsyncClient,
    admin_sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = await make_tenant()
    invoice_id = await billing_rows(tenant.id)
    assert await stripe_sync.sync_event(finalized_event(tenant.id, invoice_id)) == "synced"
    async with admin_session(admin_sessions) as session:
        query = text("select stripe_invoice_id from stripe_invoices where invoice_id = :iid")
        stripe_invoice_id = (await session.execute(query, {"iid": invoice_id})).scalar_one()
    with pytest.raises(stripe.CardError):
        await stripe_api.client.v1.invoices.pay_async(
            stripe_invoice_id, params={"payment_method": "pm_card_chargeDeclined"}
        )
    await _deliveries(sim_control, registered)
    assert await _payment_status(admin_sessions, invoice_id) == "failed"
    await stripe_api.client.v1.invoices.pay_async(stripe_invoice_id)
    await _deliveries(sim_control, registered)
    assert await _payment_status(admin_sessions, invoice_id) == "paid"


async def test_unconfigured_secret_answers_503(
    runtime_sessions: async_sessionmaker[AsyncSession], admin_sessions: async_sessionmaker[AsyncSession]
) -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.dependency_overrides[webhook_context] = lambda: StripeWebhookContext("", runtime_sessions, admin_sessions)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://billing") as http:
        response = await http.post("/webhooks/stripe", content="{}", headers={"Stripe-Signature": "t=1,v1=x"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "webhook_not_configured"
