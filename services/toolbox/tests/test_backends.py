"""Each backend's happy path and its 4xx on bad input (never a 5xx)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .factories import Toolbox, error_of, new_key


async def test_orders_lookup_and_list(tb: Toolbox) -> None:
    order = (await tb.get("/v1/orders/ORD-1001")).json()
    assert order["amount_minor"] == 5198 and order["customer"]["email"] == "ada@example.com"
    assert [item["sku"] for item in order["items"]] == ["SKU-TSHIRT", "SKU-MUG"]
    listed = (await tb.get("/v1/orders", customer_email="GRACE@example.com")).json()["data"]
    assert [o["id"] for o in listed] == ["ORD-1002"]
    missing = await tb.get("/v1/orders/ORD-9999")
    assert missing.status_code == 404 and error_of(missing)["code"] == "order_not_found"
    assert (await tb.get("/v1/orders/bad id!")).status_code == 422
    assert (await tb.get("/v1/orders", customer_email="not-an-email")).status_code == 422


async def test_inventory_reserve_and_release(tb: Toolbox) -> None:
    reserved = await tb.post("/v1/inventory/reservations", {"order_id": "ORD-1001"}, key=new_key())
    assert reserved.status_code == 201
    reservation = reserved.json()
    assert reservation["status"] == "active"
    assert {i["sku"]: i["quantity"] for i in reservation["items"]} == {"SKU-TSHIRT": 2, "SKU-MUG": 1}
    assert (await tb.get("/v1/inventory/SKU-MUG")).json() == {"sku": "SKU-MUG", "available": 49, "reserved": 1}
    path = f"/v1/inventory/reservations/{reservation['id']}/release"
    released = await tb.post(path, key=new_key())
    assert released.status_code == 200 and released.json()["status"] == "released"
    assert (await tb.get("/v1/inventory/SKU-MUG")).json() == {"sku": "SKU-MUG", "available": 50, "reserved": 0}
    again = await tb.post(path, key=new_key())  # a second compensation: a no-op, no effect
    assert again.status_code == 200 and (await tb.get("/v1/inventory/SKU-MUG")).json()["available"] == 50
    assert await tb.effect_count("inventory.release", None) == 1
    assert (await tb.get(f"/v1/inventory/reservations/{reservation['id']}")).json()["status"] == "released"


async def test_inventory_refusals(tb: Toolbox) -> None:
    short = await tb.post(
        "/v1/inventory/reservations", {"order_id": "ORD-1003", "items": [{"sku": "SKU-LAMP", "quantity": 6}]}
    )
    assert short.status_code == 409 and error_of(short)["code"] == "insufficient_stock"
    unknown = await tb.post(
        "/v1/inventory/reservations", {"order_id": "ORD-1003", "items": [{"sku": "SKU-NOPE", "quantity": 1}]}
    )
    assert unknown.status_code == 422 and error_of(unknown)["code"] == "unknown_sku"
    twice = await tb.post(
        "/v1/inventory/reservations",
        {"order_id": "ORD-1003", "items": [{"sku": "SKU-LAMP", "quantity": 1}, {"sku": "SKU-LAMP", "quantity": 1}]},
    )
    assert twice.status_code == 422
    assert (await tb.post("/v1/inventory/reservations", {"order_id": "ORD-404"})).status_code == 404
    assert (await tb.post("/v1/inventory/reservations/res_nope/release")).status_code == 404
    assert (await tb.get("/v1/inventory/SKU-NOPE")).status_code == 404
    assert (await tb.get("/v1/inventory/SKU-LAMP")).json()["available"] == 5  # nothing was half-reserved


async def test_payments_charge_and_refund(tb: Toolbox) -> None:
    charge = (await tb.charge(new_key(), description="order ORD-1001")).json()
    assert charge["status"] == "succeeded" and charge["amount_minor"] == 5198 and charge["id"].startswith("ch_")
    partial = await tb.post("/v1/payments/refunds", {"charge_id": charge["id"], "amount_minor": 198}, key=new_key())
    assert partial.status_code == 201 and partial.json()["amount_minor"] == 198
    rest = await tb.post("/v1/payments/refunds", {"charge_id": charge["id"]}, key=new_key())
    assert rest.json()["amount_minor"] == 5000
    refreshed = (await tb.get(f"/v1/payments/charges/{charge['id']}")).json()
    assert refreshed["amount_refunded_minor"] == 5198 and refreshed["refunded"] is True
    done = await tb.post("/v1/payments/refunds", {"charge_id": charge["id"]}, key=new_key())
    assert done.status_code == 409 and error_of(done)["code"] == "charge_already_refunded"
    assert await tb.effect_count("payments.refund", None) == 2


async def test_payments_refusals(tb: Toolbox) -> None:
    charge = (await tb.charge(amount_minor=100)).json()
    over = await tb.post("/v1/payments/refunds", {"charge_id": charge["id"], "amount_minor": 101})
    assert over.status_code == 409 and error_of(over)["code"] == "refund_exceeds_charge"
    poor = await tb.charge(payment_method="pm_card_insufficient_funds")
    assert poor.status_code == 402 and error_of(poor)["code"] == "insufficient_funds"
    assert (await tb.charge(order_id="ORD-404")).status_code == 404
    assert (await tb.post("/v1/payments/refunds", {"charge_id": "ch_nope"})).status_code == 404
    for bad in (
        {"amount_minor": 0},
        {"amount_minor": "ten"},
        {"currency": "USD"},
        {"payment_method": "card"},
        {"extra": 1},
    ):
        response = await tb.charge(**bad)
        assert response.status_code == 422, bad
    assert (await tb.get("/v1/payments/charges/ch_nope")).status_code == 404


async def test_shipments_create_and_cancel(tb: Toolbox) -> None:
    reservation = (await tb.post("/v1/inventory/reservations", {"order_id": "ORD-1002"})).json()
    created = await tb.post(
        "/v1/shipments", {"order_id": "ORD-1002", "reservation_id": reservation["id"], "carrier": "dhl"}, key=new_key()
    )
    assert created.status_code == 201
    shipment = created.json()
    assert shipment["status"] == "created" and shipment["tracking_number"].startswith("1Z")
    assert shipment["address"]["postal_code"] == "10001"  # the order's shipping address
    cancelled = await tb.post(f"/v1/shipments/{shipment['id']}/cancel", key=new_key())
    assert cancelled.json()["status"] == "cancelled"
    assert (await tb.post(f"/v1/shipments/{shipment['id']}/cancel")).status_code == 200
    assert await tb.effect_count("shipments.cancel", None) == 1
    assert (await tb.get(f"/v1/shipments/{shipment['id']}")).json()["status"] == "cancelled"


async def test_shipment_refusals(tb: Toolbox) -> None:
    address = {"line1": "1 Nowhere", "city": "Void", "postal_code": "00000", "country": "US"}
    undeliverable = await tb.post("/v1/shipments", {"order_id": "ORD-1001", "address": address})
    assert undeliverable.status_code == 422 and error_of(undeliverable)["code"] == "address_undeliverable"
    reservation = (await tb.post("/v1/inventory/reservations", {"order_id": "ORD-1001"})).json()
    await tb.post(f"/v1/inventory/reservations/{reservation['id']}/release")
    stale = await tb.post("/v1/shipments", {"order_id": "ORD-1001", "reservation_id": reservation["id"]})
    assert stale.status_code == 409 and error_of(stale)["code"] == "reservation_not_active"
    bad_country = await tb.post("/v1/shipments", {"order_id": "ORD-1001", "address": {**address, "country": "usa"}})
    assert bad_country.status_code == 422
    assert (await tb.post("/v1/shipments", {"order_id": "ORD-1001", "carrier": "pigeon"})).status_code == 422
    assert (await tb.post("/v1/shipments/shp_nope/cancel")).status_code == 404
    assert (await tb.state())["shipments"] == []


async def test_crm_dedupe_create_and_callbacks(tb: Toolbox) -> None:
    assert (await tb.get("/v1/crm/leads", email="lin@acme.test")).json() == {"data": []}
    lead = await tb.post(
        "/v1/crm/leads", {"email": "Lin@Acme.test", "name": "Lin", "company": "Acme", "score": 80}, key=new_key()
    )
    assert lead.status_code == 201 and lead.json()["email"] == "lin@acme.test"
    found = (await tb.get("/v1/crm/leads", email="LIN@acme.test")).json()["data"]
    assert [row["id"] for row in found] == [lead.json()["id"]]
    duplicate = await tb.post("/v1/crm/leads", {"email": "lin@acme.test", "name": "Lin again"}, key=new_key())
    assert duplicate.status_code == 409 and error_of(duplicate)["code"] == "lead_exists"
    assert lead.json()["id"] in error_of(duplicate)["message"]
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    callback = await tb.post(f"/v1/crm/leads/{lead.json()['id']}/callbacks", {"at": at, "note": "demo"}, key=new_key())
    assert callback.status_code == 201 and callback.json()["status"] == "scheduled"
    cancelled = await tb.post(f"/v1/crm/callbacks/{callback.json()['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert await tb.effect_count("crm.create_lead", None) == 1
    assert (await tb.get(f"/v1/crm/leads/{lead.json()['id']}")).json()["name"] == "Lin"


async def test_crm_refusals(tb: Toolbox) -> None:
    lead = (await tb.post("/v1/crm/leads", {"email": "a@b.test", "name": "A"})).json()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    late = await tb.post(f"/v1/crm/leads/{lead['id']}/callbacks", {"at": past})
    assert late.status_code == 422 and error_of(late)["code"] == "callback_in_past"
    naive = await tb.post(f"/v1/crm/leads/{lead['id']}/callbacks", {"at": "2030-01-01T10:00:00"})
    assert naive.status_code == 422
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await tb.post("/v1/crm/leads/lead_nope/callbacks", {"at": future})).status_code == 404
    for bad in (
        {"email": "nope", "name": "A"},
        {"email": "c@d.test"},
        {"email": "c@d.test", "name": "A", "score": 101},
    ):
        assert (await tb.post("/v1/crm/leads", bad)).status_code == 422, bad
    assert (await tb.get("/v1/crm/leads")).status_code == 422  # the email is required
    assert (await tb.get("/v1/crm/leads/lead_nope")).status_code == 404


async def test_notify_send(tb: Toolbox) -> None:
    email = await tb.post(
        "/v1/notify/messages",
        {
            "channel": "email",
            "to": "ada@example.com",
            "subject": "Shipped",
            "body": "On its way",
            "metadata": {"o": "1"},
        },
        key=new_key(),
    )
    assert email.status_code == 201 and email.json()["status"] == "sent"
    sms = await tb.post("/v1/notify/messages", {"channel": "sms", "to": "+447700900123", "body": "Shipped"})
    assert sms.status_code == 201
    assert (await tb.get(f"/v1/notify/messages/{sms.json()['id']}")).json()["to"] == "+447700900123"
    assert [m["channel"] for m in (await tb.state())["messages"]] == ["email", "sms"]


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "sms", "to": "ada@example.com", "body": "x"},
        {"channel": "email", "to": "+447700900123", "body": "x"},
        {"channel": "fax", "to": "+447700900123", "body": "x"},
        {"channel": "sms", "to": "+447700900123", "body": ""},
        {"channel": "sms", "to": "+447700900123", "body": "x" * 10_001},
    ],
)
async def test_notify_refusals(tb: Toolbox, body: dict[str, str]) -> None:
    response = await tb.post("/v1/notify/messages", body)
    assert response.status_code == 422
    assert error_of(response)["retryable"] is False


async def test_bad_input_is_4xx_json(tb: Toolbox) -> None:
    headers = {**tb.headers(), "content-type": "application/json"}
    cases = {
        b'{"order_id": "ORD-1001", "amount_minor": 5': 400,  # not JSON
        b'{"order_id": "\\ud800", "amount_minor": 5}': 422,  # a lone surrogate
        b'{"order_id": "ORD-1001", "amount_minor": 5, "description": "\\udfff"}': 422,
        b"[1, 2]": 422,
    }
    for raw, status in cases.items():
        response = await tb.http.post("/v1/payments/charges", content=raw, headers=headers)
        assert response.status_code == status, raw
        error_of(response)
    lead = b'{"email": "x@y.test", "name": "\\ud800"}'
    assert (await tb.http.post("/v1/crm/leads", content=lead, headers=headers)).status_code == 422
    too_big = await tb.http.post("/v1/notify/messages", content=b"{" + b" " * 70_000 + b"}", headers=headers)
    assert too_big.status_code == 413
    assert (await tb.http.get("/v1/nothing-here", headers=headers)).status_code == 404
    assert (await tb.http.delete("/v1/payments/charges", headers=headers)).status_code == 405


async def test_the_tenant_header_is_required_and_checked(tb: Toolbox) -> None:
    missing = await tb.http.get("/v1/orders/ORD-1001")
    assert missing.status_code == 422 and error_of(missing)["param"] == "header.X-Toolbox-Tenant"
    bad = await tb.http.post("/v1/payments/charges", json={}, headers={"X-Toolbox-Tenant": "no spaces"})
    assert bad.status_code == 422 and "X-Toolbox-Tenant" in error_of(bad)["message"]
