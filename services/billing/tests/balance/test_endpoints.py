"""Paid top-ups end to end: billing's API, the Stripe stand-in process and its real signed webhook deliveries.

Nothing is credited when a top-up is created; only Stripe's signed `checkout.session.*` webhook settles
it, once. Admin grants are the one other way to add credit, and they are audited.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx2
import pytest
from sqlalchemy import text

from aiaas.db import admin_session
from aiaas.quota import quota_key
from aiaas_testing import TenantWithKey
from stripe_sim.webhooks import sign

from ..factories import STRIPE_WEBHOOK_SECRET, grant_credit, wait_for


@pytest.fixture
async def sim(stripe_sim_url: str) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=stripe_sim_url, timeout=30) as client:
        yield client


async def _json(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as resp:
        return resp.status, await resp.json(content_type=None)


async def _balance(http: aiohttp.ClientSession, billing_url: str, tenant: TenantWithKey) -> int:
    status, body = await _json(http, "GET", f"{billing_url}/v1/billing/balance", headers=tenant.auth)
    assert status == 200, body
    return int(body["balance_minor"])


async def _start(
    http: aiohttp.ClientSession, billing_url: str, tenant: TenantWithKey, amount_minor: int, key: str | None = None
) -> dict[str, Any]:
    headers = {**tenant.auth, "Idempotency-Key": key or f"top-{uuid.uuid4()}"}
    status, body = await _json(
        http, "POST", f"{billing_url}/v1/billing/balance/top-ups", json={"amount_minor": amount_minor}, headers=headers
    )
    assert status == 201, body
    return body


async def _top_up(http: aiohttp.ClientSession, billing_url: str, tenant: TenantWithKey, top_up_id: str) -> dict:
    status, body = await _json(
        http, "GET", f"{billing_url}/v1/billing/balance/top-ups/{top_up_id}", headers=tenant.auth
    )
    assert status == 200, body
    return body


async def _complete(sim: httpx2.AsyncClient, session_id: str, outcome: str) -> dict[str, Any]:
    response = await sim.post(f"/_sim/checkout/sessions/{session_id}/complete", json={"outcome": outcome})
    assert response.status_code == 200, response.text
    return response.json()


async def _ledger(admin_sessions, tenant_id: uuid.UUID) -> list[tuple[int, str, str]]:
    async with admin_session(admin_sessions) as session:
        rows = await session.execute(
            text("select amount_minor, reason, idempotency_key from credit_ledger where tenant_id = :t order by id"),
            {"t": tenant_id},
        )
        return [tuple(row) for row in rows]


async def _outcomes(admin_sessions, session_id: str) -> list[tuple[str, str]]:
    async with admin_session(admin_sessions) as session:
        rows = await session.execute(
            text("select type, outcome from stripe_webhook_events where object_id = :o order by received_at"),
            {"o": session_id},
        )
        return [tuple(row) for row in rows]


async def test_top_up_without_payment_credits_nothing(billing_url, billing_admin_url, http, tenant, sim, make_tenant):
    body = await _start(http, billing_url, tenant, 5000, key="pay-1")
    assert (body["status"], body["amount_minor"], body["currency"], body["credited_minor"]) == (
        "pending",
        5000,
        "usd",
        0,
    )
    assert body["checkout_session_id"].startswith("cs_test_")
    assert body["checkout_url"] == f"https://checkout.stripe.com/c/pay/{body['checkout_session_id']}"
    session = (await sim.get(f"/v1/checkout/sessions/{body['checkout_session_id']}", auth=("sk_test_x", ""))).json()
    assert (session["amount_total"], session["currency"], session["mode"], session["status"]) == (
        5000,
        "usd",
        "payment",
        "open",
    )
    assert session["client_reference_id"] == str(tenant.id)
    # The same Idempotency-Key: the same top-up and session, 200; another amount: 409.
    headers = {**tenant.auth, "Idempotency-Key": "pay-1"}
    url = f"{billing_url}/v1/billing/balance/top-ups"
    again = await _json(http, "POST", url, json={"amount_minor": 5000}, headers=headers)
    assert again[0] == 200 and again[1]["top_up_id"] == body["top_up_id"]
    assert again[1]["checkout_session_id"] == body["checkout_session_id"]
    conflict = await _json(http, "POST", url, json={"amount_minor": 9999}, headers=headers)
    assert conflict[0] == 409 and conflict[1]["error"]["code"] == "idempotency_key_reused"
    other = await _json(http, "POST", url, json={"amount_minor": 10, "currency": "eur"}, headers=tenant.auth)
    assert other[0] == 400 and other[1]["error"]["code"] == "currency_mismatch"
    assert await _balance(http, billing_url, tenant) == 0
    assert (await _top_up(http, billing_url, tenant, body["top_up_id"]))["status"] == "pending"
    # Another tenant's key does not find it (RLS).
    other_tenant = await make_tenant()
    url = f"{billing_url}/v1/billing/balance/top-ups/{body['top_up_id']}"
    hidden = await _json(http, "GET", url, headers=other_tenant.auth)
    assert hidden[0] == 404 and hidden[1]["error"]["code"] == "top_up_not_found"


async def test_paid_session_credits_once_across_three_deliveries(
    billing_url, billing_admin_url, http, tenant, sim, admin_sessions, redis_client
):
    body = await _start(http, billing_url, tenant, 4200)
    session_id = body["checkout_session_id"]
    done = await _complete(sim, session_id, "paid")
    event = done["events"][0]
    assert [(d["status"], d["ok"]) for d in done["deliveries"]] == [(200, True)]
    for _ in range(2):  # Stripe delivers at least once: the same event twice more
        again = (await sim.post("/_sim/emit", json={"event_id": event["id"]})).json()
        assert [(d["status"], json.loads(d["response"])["outcome"]) for d in again["deliveries"]] == [
            (200, "duplicate")
        ]
    assert await _balance(http, billing_url, tenant) == 4200
    settled = await _top_up(http, billing_url, tenant, body["top_up_id"])
    assert (settled["status"], settled["credited_minor"], settled["checkout_url"]) == ("paid", 4200, None)
    assert await _ledger(admin_sessions, tenant.id) == [(4200, "top_up", f"checkout:{session_id}")]
    # A second, different event for the same session (and one that arrives late saying it expired): no credit.
    late = await sim.post(
        "/_sim/emit", json={"type": "checkout.session.async_payment_succeeded", "object_id": session_id}
    )
    expired = await sim.post(
        "/_sim/emit", json={"type": "checkout.session.expired", "object_id": session_id, "set": {"status": "expired"}}
    )
    assert [late.json()["deliveries"][0]["status"], expired.json()["deliveries"][0]["status"]] == [200, 200]
    assert await _balance(http, billing_url, tenant) == 4200
    assert (await _top_up(http, billing_url, tenant, body["top_up_id"]))["status"] == "paid"
    assert await _outcomes(admin_sessions, session_id) == [
        ("checkout.session.completed", "processed"),
        ("checkout.session.async_payment_succeeded", "unchanged"),
        ("checkout.session.expired", "unchanged"),
    ]
    # The gateway's quota state got the credit at once (no meter running here to reconcile it).
    assert await redis_client.hget(quota_key(tenant.id), "credit_minor") == b"4200"


async def test_tampered_or_stale_signature_is_400_and_changes_nothing(
    billing_url, billing_admin_url, http, tenant, sim, admin_sessions
):
    body = await _start(http, billing_url, tenant, 3000)
    session_id = body["checkout_session_id"]
    session = (await sim.get(f"/v1/checkout/sessions/{session_id}", auth=("sk_test_x", ""))).json()
    forged = {
        "id": f"evt_forged{uuid.uuid4().hex}",
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "data": {"object": {**session, "status": "complete", "payment_status": "paid"}},
    }
    payload = json.dumps(forged)
    hook = f"{billing_admin_url}/webhooks/stripe"
    headers = {"Content-Type": "application/json"}
    attempts = [
        {**headers, "Stripe-Signature": sign(payload, "whsec_not_ours", int(time.time()))},
        {**headers, "Stripe-Signature": sign(payload.replace("3000", "3001"), STRIPE_WEBHOOK_SECRET, int(time.time()))},
        {**headers, "Stripe-Signature": sign(payload, STRIPE_WEBHOOK_SECRET, int(time.time()) - 600)},
        headers,
    ]
    for attempt in attempts:
        status, error = await _json(http, "POST", hook, data=payload, headers=attempt)
        assert status == 400 and error["error"]["code"] == "invalid_signature", (status, error)
    # The real paid event, delivered with a stale signature: refused too.
    response = await sim.post(
        f"/_sim/checkout/sessions/{session_id}/complete", json={"outcome": "paid", "signed_at": 1}
    )
    assert [d["status"] for d in response.json()["deliveries"]] == [400]
    assert await _balance(http, billing_url, tenant) == 0
    assert (await _top_up(http, billing_url, tenant, body["top_up_id"]))["status"] == "pending"
    assert await _outcomes(admin_sessions, session_id) == []
    # Redelivered with a fresh signature, it is applied (once).
    event_id = response.json()["events"][0]["id"]
    assert (await sim.post("/_sim/emit", json={"event_id": event_id})).json()["deliveries"][0]["status"] == 200
    assert await _balance(http, billing_url, tenant) == 3000


async def test_failed_payment_credits_nothing(billing_url, billing_admin_url, http, tenant, sim, admin_sessions):
    body = await _start(http, billing_url, tenant, 2500)
    session_id = body["checkout_session_id"]
    done = await _complete(sim, session_id, "failed")
    assert [event["type"] for event in done["events"]] == [
        "checkout.session.completed",
        "checkout.session.async_payment_failed",
    ]
    assert [d["status"] for d in done["deliveries"]] == [200, 200]
    top_up = await _top_up(http, billing_url, tenant, body["top_up_id"])
    assert (top_up["status"], top_up["credited_minor"], top_up["failure_reason"]) == (
        "failed",
        0,
        "The payment failed.",
    )
    assert await _balance(http, billing_url, tenant) == 0
    assert await _ledger(admin_sessions, tenant.id) == []
    assert await _outcomes(admin_sessions, session_id) == [
        ("checkout.session.completed", "unchanged"),  # paid later or never: nothing to settle yet
        ("checkout.session.async_payment_failed", "processed"),
    ]


async def test_async_payment_credits_when_it_succeeds(billing_url, billing_admin_url, http, tenant, sim):
    body = await _start(http, billing_url, tenant, 1800)
    await _complete(sim, body["checkout_session_id"], "pending")
    assert (await _top_up(http, billing_url, tenant, body["top_up_id"]))["status"] == "pending"
    assert await _balance(http, billing_url, tenant) == 0
    await _complete(sim, body["checkout_session_id"], "paid")
    assert (await _top_up(http, billing_url, tenant, body["top_up_id"]))["status"] == "paid"
    assert await _balance(http, billing_url, tenant) == 1800


async def test_expired_then_paid_out_of_order_credits_nothing(
    billing_url, billing_admin_url, http, tenant, sim, admin_sessions
):
    body = await _start(http, billing_url, tenant, 7000)
    session_id = body["checkout_session_id"]
    expired = await sim.post(f"/v1/checkout/sessions/{session_id}/expire", auth=("sk_test_x", ""))
    assert expired.status_code == 200

    async def settled() -> bool:
        return (await _top_up(http, billing_url, tenant, body["top_up_id"]))["status"] == "expired"

    await wait_for(settled, timeout_s=20)
    # A "paid" event for the same session arrives after it expired: twice.
    paid = {"status": "complete", "payment_status": "paid"}
    late = (
        await sim.post("/_sim/emit", json={"type": "checkout.session.completed", "object_id": session_id, "set": paid})
    ).json()
    assert late["deliveries"][0]["status"] == 200
    assert (await sim.post("/_sim/emit", json={"event_id": late["event"]["id"]})).json()["deliveries"][0][
        "status"
    ] == 200
    assert await _balance(http, billing_url, tenant) == 0
    top_up = await _top_up(http, billing_url, tenant, body["top_up_id"])
    assert (top_up["status"], top_up["credited_minor"]) == ("expired", 0)
    outcomes = await _outcomes(admin_sessions, session_id)
    assert outcomes[0] == ("checkout.session.expired", "processed")
    assert [outcome for _, outcome in outcomes[1:]] in (["unchanged"], ["stale"])
    assert await _ledger(admin_sessions, tenant.id) == []


async def test_paid_amount_mismatch_credits_nothing_and_is_recorded(
    billing_url, billing_admin_url, http, tenant, sim, admin_sessions
):
    body = await _start(http, billing_url, tenant, 6000)
    session_id = body["checkout_session_id"]
    wrong = {"status": "complete", "payment_status": "paid", "amount_total": 60}
    sent = await sim.post(
        "/_sim/emit", json={"type": "checkout.session.completed", "object_id": session_id, "set": wrong}
    )
    assert sent.json()["deliveries"][0]["status"] == 200
    top_up = await _top_up(http, billing_url, tenant, body["top_up_id"])
    assert (top_up["status"], top_up["credited_minor"]) == ("mismatch", 0)
    assert top_up["failure_reason"] == "Stripe reported 60 'usd'"
    assert await _outcomes(admin_sessions, session_id) == [("checkout.session.completed", "mismatch")]
    assert await _balance(http, billing_url, tenant) == 0


async def test_admin_grant_is_audited(billing_url, billing_admin_url, http, tenant, admin_headers, admin_key):
    granted = await grant_credit(http, billing_admin_url, admin_headers, tenant.id, 1234, "goodwill: outage", "g-1")
    assert (granted["amount_minor"], granted["currency"], granted["reason"], granted["balance_after_minor"]) == (
        1234,
        "usd",
        "goodwill: outage",
        1234,
    )
    # Who granted it is the calling admin key's name (never a header the caller writes).
    assert (granted["actor"], granted["admin_key_id"]) == (admin_key.name, str(admin_key.key_id))
    assert granted["created_at"]
    again = await grant_credit(http, billing_admin_url, admin_headers, tenant.id, 1234, "goodwill: outage", "g-1")
    assert again["id"] == granted["id"]
    assert await _balance(http, billing_url, tenant) == 1234
    url = f"{billing_admin_url}/admin/billing/tenants/{tenant.id}/credit-grants"
    status, listed = await _json(http, "GET", url, headers=admin_headers)
    assert status == 200
    assert [(g["id"], g["amount_minor"], g["reason"], g["actor"]) for g in listed["data"]] == [
        (granted["id"], 1234, "goodwill: outage", granted["actor"])
    ]
    conflict = await _json(
        http, "POST", url, json={"amount_minor": 1, "reason": "x"}, headers={**admin_headers, "Idempotency-Key": "g-1"}
    )
    assert conflict[0] == 409 and conflict[1]["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    "body", [{"amount_minor": 100}, {"amount_minor": 100, "reason": ""}, {"amount_minor": 100, "reason": "   "}]
)
async def test_grant_without_reason_is_422(billing_url, billing_admin_url, http, tenant, admin_headers, body):
    url = f"{billing_admin_url}/admin/billing/tenants/{tenant.id}/credit-grants"
    status, error = await _json(http, "POST", url, json=body, headers=admin_headers)
    assert status == 422, error
    assert set(error) == {"error"} and error["error"]["type"] == "invalid_request_error"
    assert await _balance(http, billing_url, tenant) == 0


async def test_tenant_key_cannot_grant_or_reach_admin(billing_url, billing_admin_url, http, tenant):
    url = f"{billing_admin_url}/admin/billing/tenants/{tenant.id}/credit-grants"
    status, error = await _json(http, "POST", url, json={"amount_minor": 100, "reason": "me"}, headers=tenant.auth)
    assert status == 401 and error["error"]["code"] == "invalid_admin_key"
    missing = await _json(
        http, "POST", f"{billing_url}/admin/billing/tenants/{tenant.id}/credit-grants", headers=tenant.auth
    )
    assert missing[0] == 404
    assert await _balance(http, billing_url, tenant) == 0


async def test_a_key_without_billing_manage_cannot_start_a_top_up(billing_url, http, make_tenant):
    chat_only = await make_tenant(scopes=["chat"])
    url = f"{billing_url}/v1/billing/balance/top-ups"
    status, error = await _json(http, "POST", url, json={"amount_minor": 100}, headers=chat_only.auth)
    assert status == 403 and error["error"]["code"] == "insufficient_scope", error
    assert "billing:manage" in error["error"]["message"]


async def test_grant_for_unknown_tenant_is_404(billing_admin_url, http, admin_headers):
    url = f"{billing_admin_url}/admin/billing/tenants/{uuid.uuid4()}/credit-grants"
    status, error = await _json(http, "POST", url, json={"amount_minor": 100, "reason": "x"}, headers=admin_headers)
    assert status == 404 and error["error"]["code"] == "tenant_not_found"
