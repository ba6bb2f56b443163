"""Checkout Sessions through the official SDK, and the signed checkout.session.* webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
import stripe
from aiohttp import web

from aiaas_testing import serve_local

SECRET = "whsec_checkout_tests"
PRICE_DATA = {"currency": "usd", "unit_amount": 2500, "product_data": {"name": "Credit"}}
TOP_UP: dict[str, Any] = {
    "mode": "payment",
    "line_items": [{"price_data": PRICE_DATA, "quantity": 2}],
    "success_url": "https://app.example.com/paid",
    "cancel_url": "https://app.example.com/cancel",
    "client_reference_id": "top-up-1",
    "metadata": {"tenant_id": "t-1"},
}


@pytest.fixture
async def events(control: httpx2.AsyncClient) -> AsyncIterator[list[stripe.Event]]:
    """A webhook endpoint registered with the stand-in; collects the events it verified."""
    received: list[stripe.Event] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.text()
        received.append(stripe.Webhook.construct_event(body, request.headers.get("Stripe-Signature", ""), SECRET))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", handle)
    async with serve_local(app) as base:
        response = await control.post("/_sim/webhook_endpoints", json={"url": f"{base}/hook", "secret": SECRET})
        assert response.status_code == 201
        yield received


async def _complete(control: httpx2.AsyncClient, session_id: str, outcome: str) -> httpx2.Response:
    return await control.post(f"/_sim/checkout/sessions/{session_id}/complete", json={"outcome": outcome})


async def test_create_retrieve_and_replay(client: stripe.StripeClient) -> None:
    session = await client.v1.checkout.sessions.create_async(params=TOP_UP, options={"idempotency_key": "top-1"})  # type: ignore[arg-type]
    assert session.id.startswith("cs_test_") and session.object == "checkout.session"
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "payment")
    assert (session.amount_total, session.amount_subtotal, session.currency) == (5000, 5000, "usd")
    assert session.url == f"https://checkout.stripe.com/c/pay/{session.id}"
    assert session.metadata is not None
    assert (session.client_reference_id, session.metadata.to_dict()) == ("top-up-1", {"tenant_id": "t-1"})
    assert session.expires_at - session.created == 24 * 3600
    again = await client.v1.checkout.sessions.create_async(params=TOP_UP, options={"idempotency_key": "top-1"})  # type: ignore[arg-type]
    assert again.id == session.id
    assert again.last_response is not None and again.last_response.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError):
        await client.v1.checkout.sessions.create_async(
            params={**TOP_UP, "client_reference_id": "other"},  # type: ignore[arg-type]
            options={"idempotency_key": "top-1"},
        )
    fetched = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert fetched.to_dict() == session.to_dict()
    listed = await client.v1.checkout.sessions.list_async(params={"status": "open"})
    assert [s.id for s in listed.data] == [session.id]


async def test_price_line_items(client: stripe.StripeClient) -> None:
    price = await client.v1.prices.create_async(
        params={"currency": "eur", "unit_amount": 700, "product_data": {"name": "Credit pack"}}
    )
    session = await client.v1.checkout.sessions.create_async(
        params={"mode": "payment", "line_items": [{"price": price.id, "quantity": 3}]}
    )
    assert (session.amount_total, session.currency, session.success_url) == (2100, "eur", None)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({**TOP_UP, "mode": "subscription"}, "mode"),
        ({"mode": "payment"}, "line_items"),
        ({**TOP_UP, "line_items": [{"price_data": PRICE_DATA}]}, "line_items[0][quantity]"),
        ({**TOP_UP, "success_url": "javascript:alert(1)"}, "success_url"),
        ({**TOP_UP, "expires_at": 1}, "expires_at"),
        ({**TOP_UP, "customer": "cus_missing"}, "customer"),
    ],
)
async def test_bad_parameters(client: stripe.StripeClient, params: dict[str, Any], param: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await client.v1.checkout.sessions.create_async(params=params)  # type: ignore[arg-type]
    assert (refused.value.http_status, refused.value.param) == (400, param)
    assert (await client.v1.checkout.sessions.list_async()).data == []


async def test_expire_sends_signed_expired_event(
    client: stripe.StripeClient, control: httpx2.AsyncClient, events: list[stripe.Event]
) -> None:
    session = await client.v1.checkout.sessions.create_async(params=TOP_UP)  # type: ignore[arg-type]
    expired = await client.v1.checkout.sessions.expire_async(session.id)
    assert (expired.status, expired.url, expired.payment_status) == ("expired", None, "unpaid")
    with pytest.raises(stripe.InvalidRequestError) as again:
        await client.v1.checkout.sessions.expire_async(session.id)
    assert again.value.code == "checkout_session_not_open"
    await control.get("/_sim/webhook_deliveries", params={"wait": "true"})
    assert [(e.type, e.data.object["id"], e.data.object["status"]) for e in events] == [
        ("checkout.session.expired", session.id, "expired")
    ]
    refused = await _complete(control, session.id, "paid")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "checkout_session_not_open"


async def test_paid_session_sends_completed_once_and_can_be_redelivered(
    client: stripe.StripeClient, control: httpx2.AsyncClient, events: list[stripe.Event]
) -> None:
    session = await client.v1.checkout.sessions.create_async(params=TOP_UP)  # type: ignore[arg-type]
    done = await _complete(control, session.id, "paid")
    assert done.status_code == 200
    body = done.json()
    assert [event["type"] for event in body["events"]] == ["checkout.session.completed"]
    assert [(d["status"], d["ok"]) for d in body["deliveries"]] == [(200, True)]
    assert (body["session"]["status"], body["session"]["payment_status"]) == ("complete", "paid")
    event = events[0]
    assert (event.type, event.data.object["amount_total"], event.data.object["payment_status"]) == (
        "checkout.session.completed",
        5000,
        "paid",
    )
    assert (await client.v1.checkout.sessions.retrieve_async(session.id)).payment_status == "paid"
    assert (await _complete(control, session.id, "paid")).status_code == 400
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.checkout.sessions.expire_async(session.id)
    again = await control.post("/_sim/emit", json={"event_id": event.id})
    assert again.json()["deliveries"][0]["status"] == 200
    assert [e.id for e in events] == [event.id, event.id]
    missing = await _complete(control, "cs_test_missing", "paid")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"


async def test_async_payment_succeeds_or_fails(
    client: stripe.StripeClient, control: httpx2.AsyncClient, events: list[stripe.Event]
) -> None:
    pending = await client.v1.checkout.sessions.create_async(params=TOP_UP)  # type: ignore[arg-type]
    assert (await _complete(control, pending.id, "pending")).status_code == 200
    assert (await _complete(control, pending.id, "paid")).status_code == 200
    failing = await client.v1.checkout.sessions.create_async(params=TOP_UP)  # type: ignore[arg-type]
    assert (await _complete(control, failing.id, "failed")).status_code == 200
    assert (await _complete(control, failing.id, "paid")).status_code == 400
    seen = [
        (e.type.removeprefix("checkout.session."), e.data.object["id"], e.data.object["payment_status"]) for e in events
    ]
    assert seen == [
        ("completed", pending.id, "unpaid"),
        ("async_payment_succeeded", pending.id, "paid"),
        ("completed", failing.id, "unpaid"),
        ("async_payment_failed", failing.id, "unpaid"),
    ]
    assert (await client.v1.checkout.sessions.retrieve_async(failing.id)).payment_status == "unpaid"
