"""Subscription and invoice lifecycle, and signed webhooks verified by `stripe.Webhook.construct_event`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx2
import pytest
import stripe
from aiohttp import web

from aiaas_testing import serve_local

SECRET = "whsec_test_secret"


@pytest.fixture
async def receiver(control: httpx2.AsyncClient) -> AsyncIterator[list[tuple[str, str]]]:
    """A webhook endpoint registered with the stand-in; collects (body, Stripe-Signature)."""
    received: list[tuple[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append((await request.text(), request.headers.get("Stripe-Signature", "")))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", handle)
    async with serve_local(app) as base:
        response = await control.post("/_sim/webhook_endpoints", json={"url": f"{base}/hook", "secret": SECRET})
        assert response.status_code == 201
        yield received


async def test_subscription_lifecycle(client: stripe.StripeClient) -> None:
    customer = await client.v1.customers.create_async(params={"name": "Acme"})
    price = await client.v1.prices.create_async(
        params={
            "currency": "usd",
            "unit_amount": 2000,
            "product_data": {"name": "Pro"},
            "recurring": {"interval": "month"},
        }
    )
    sub = await client.v1.subscriptions.create_async(
        params={"customer": customer.id, "items": [{"price": price.id}], "expand": ["customer"]}
    )
    assert sub.id.startswith("sub_") and sub.status == "active"
    assert sub.customer.id == customer.id  # type: ignore[union-attr]
    item = sub["items"].data[0]
    assert item.id.startswith("si_") and (item.price.id, item.quantity) == (price.id, 1)
    assert item.current_period_end > item.current_period_start
    updated = await client.v1.subscriptions.update_async(sub.id, params={"metadata": {"seats": "3"}})
    assert updated.metadata.to_dict() == {"seats": "3"}
    assert (await client.v1.subscriptions.retrieve_async(sub.id)).metadata.to_dict() == {"seats": "3"}
    canceled = await client.v1.subscriptions.cancel_async(sub.id)
    assert canceled.status == "canceled" and canceled.canceled_at is not None
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.subscriptions.cancel_async(sub.id)


async def test_invoice_flow(client: stripe.StripeClient) -> None:
    customer = await client.v1.customers.create_async(params={"name": "Acme"})
    invoice = await client.v1.invoices.create_async(params={"customer": customer.id, "currency": "usd"})
    assert (invoice.id[:3], invoice.status, invoice.total) == ("in_", "draft", 0)
    for amount, description in ((1500, "Tokens"), (-500, "Credits")):
        item = await client.v1.invoice_items.create_async(
            params={
                "customer": customer.id,
                "invoice": invoice.id,
                "amount": amount,
                "currency": "usd",
                "description": description,
            }
        )
        assert item.id.startswith("ii_") and item.invoice == invoice.id
    final = await client.v1.invoices.finalize_invoice_async(invoice.id)
    assert (final.status, final.subtotal, final.total, final.amount_due) == ("open", 1000, 1000, 1000)
    assert [line.amount for line in final.lines.data] == [1500, -500]
    assert final.number is not None and final.number.endswith("-0001")
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.invoice_items.create_async(
            params={"customer": customer.id, "invoice": invoice.id, "amount": 1, "currency": "usd"}
        )
    with pytest.raises(stripe.CardError) as declined:
        await client.v1.invoices.pay_async(invoice.id, params={"payment_method": "pm_card_chargeDeclined"})
    assert declined.value.code == "card_declined"
    paid = await client.v1.invoices.pay_async(invoice.id)
    assert (paid.status, paid.amount_paid, paid.amount_remaining, paid.attempt_count) == ("paid", 1000, 0, 2)
    listed = await client.v1.invoices.list_async(params={"customer": customer.id, "status": "paid"})
    assert [i.id for i in listed.data] == [invoice.id]
    assert (await client.v1.invoices.retrieve_async(invoice.id)).status == "paid"


async def test_paying_an_invoice_sends_signed_invoice_paid(
    client: stripe.StripeClient, control: httpx2.AsyncClient, receiver: list[tuple[str, str]]
) -> None:
    customer = await client.v1.customers.create_async(params={"name": "Acme"})
    invoice = await client.v1.invoices.create_async(params={"customer": customer.id})
    await client.v1.invoice_items.create_async(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 700, "currency": "usd"}
    )
    await client.v1.invoices.pay_async(invoice.id)
    deliveries = (await control.get("/_sim/webhook_deliveries", params={"wait": "true"})).json()["deliveries"]
    assert all(d["ok"] and d["status"] == 200 for d in deliveries)
    events = [stripe.Webhook.construct_event(body, signature, SECRET) for body, signature in receiver]
    paid = [event for event in events if event.type == "invoice.paid"]
    assert len(paid) == 1
    assert paid[0].id.startswith("evt_") and paid[0].object == "event"
    assert (paid[0].data.object["id"], paid[0].data.object["status"], paid[0].data.object["amount_paid"]) == (
        invoice.id,
        "paid",
        700,
    )
    assert {"customer.created", "invoice.created", "invoice.finalized", "invoice.paid"} <= {e.type for e in events}
    fetched = await client.v1.events.retrieve_async(paid[0].id)
    assert fetched.type == "invoice.paid"


async def test_emit_redeliver_and_stale_signature(
    client: stripe.StripeClient, control: httpx2.AsyncClient, receiver: list[tuple[str, str]]
) -> None:
    customer = await client.v1.customers.create_async(params={"name": "Acme"})
    await control.get("/_sim/webhook_deliveries", params={"wait": "true"})
    receiver.clear()
    emitted = (
        await control.post(
            "/_sim/emit", json={"type": "customer.updated", "object_id": customer.id, "set": {"name": "Acme 2"}}
        )
    ).json()
    assert emitted["deliveries"][0]["status"] == 200
    event = emitted["event"]
    assert event["data"]["object"]["name"] == "Acme 2"
    assert event["data"]["previous_attributes"] == {"name": "Acme"}
    again = (await control.post("/_sim/emit", json={"event_id": event["id"]})).json()
    assert again["event"]["id"] == event["id"]
    stale = (
        await control.post("/_sim/emit", json={"event_id": event["id"], "signed_at": int(time.time()) - 600})
    ).json()
    assert stale["deliveries"][0]["signed_at"] < time.time() - 590
    bodies = [stripe.Webhook.construct_event(body, sig, SECRET, tolerance=None).id for body, sig in receiver]  # type: ignore[arg-type]
    assert bodies == [event["id"]] * 3
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(receiver[2][0], receiver[2][1], SECRET, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(receiver[0][0].replace("Acme 2", "Acme 3"), receiver[0][1], SECRET)
    missing = await control.post("/_sim/emit", json={"type": "invoice.paid", "object_id": "in_nope"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"
    await asyncio.sleep(0)
