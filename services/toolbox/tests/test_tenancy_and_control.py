"""Tenant isolation of every store, the control API (seed, state, effects, reset) and the probes and metrics."""

from __future__ import annotations

import httpx2

from .factories import Toolbox, Urls, error_of, new_key

ORDER = {
    "id": "A-1",
    "customer": {"email": "buyer@a.test", "name": "Buyer"},
    "items": [{"sku": "A-SKU", "name": "Widget", "quantity": 2, "unit_amount_minor": 500}],
    "amount_minor": 1000,
    "currency": "eur",
    "shipping_address": {"line1": "1 Main St", "city": "Paris", "postal_code": "75001", "country": "FR"},
}


async def test_one_tenant_never_sees_another_tenants_objects(http: httpx2.AsyncClient, tb: Toolbox) -> None:
    other = Toolbox(http, tb.tenant + "-b")
    charge = (await tb.charge(new_key())).json()
    lead = (await tb.post("/v1/crm/leads", {"email": "x@a.test", "name": "X"})).json()
    assert (await other.get(f"/v1/payments/charges/{charge['id']}")).status_code == 404
    assert (await other.post("/v1/payments/refunds", {"charge_id": charge["id"]})).status_code == 404
    assert (await other.get(f"/v1/crm/leads/{lead['id']}")).status_code == 404
    assert (await other.get("/v1/crm/leads", email="x@a.test")).json() == {"data": []}
    # The same email is a new lead in the other tenant's CRM, not a duplicate.
    assert (await other.post("/v1/crm/leads", {"email": "x@a.test", "name": "X"})).status_code == 201
    effects = (await other.effects())["totals"]
    assert {op: t["effects"] for op, t in effects.items()} == {"payments.refund": 0, "crm.create_lead": 1}
    assert (await other.state())["charges"] == []


async def test_seeding_one_tenant_leaves_the_others_alone(http: httpx2.AsyncClient, tb: Toolbox) -> None:
    other = Toolbox(http, tb.tenant + "-b")
    seeded = await http.post(
        "/control/seed",
        json={
            "tenant": tb.tenant,
            "replace": True,
            "orders": [ORDER],
            "stock": [{"sku": "A-SKU", "available": 3}],
            "leads": [{"email": "Known@A.test", "name": "Known"}],
        },
    )
    assert seeded.json() == {"tenant": tb.tenant, "orders": 1, "stock": 1, "leads": 1}
    assert (await tb.get("/v1/orders/A-1")).json()["currency"] == "eur"
    assert (await tb.get("/v1/orders/ORD-1001")).status_code == 404  # replace dropped the demo data
    assert len((await tb.get("/v1/crm/leads", email="known@a.test")).json()["data"]) == 1
    assert (await other.get("/v1/orders/A-1")).status_code == 404
    assert (await other.get("/v1/orders/ORD-1001")).status_code == 200  # the demo data
    reserve = await tb.post("/v1/inventory/reservations", {"order_id": "A-1"})
    assert reserve.status_code == 201
    assert (await tb.get("/v1/inventory/A-SKU")).json() == {"sku": "A-SKU", "available": 1, "reserved": 2}


async def test_a_seed_without_replace_adds_to_the_demo_data(http: httpx2.AsyncClient, tb: Toolbox) -> None:
    await http.post("/control/seed", json={"tenant": tb.tenant, "orders": [ORDER]})
    assert {o["id"] for o in (await tb.get("/v1/orders")).json()["data"]} == {"ORD-1001", "ORD-1002", "ORD-1003", "A-1"}


async def test_invalid_seeds_are_422(http: httpx2.AsyncClient, tb: Toolbox) -> None:
    for body in (
        {"orders": [ORDER]},
        {"tenant": tb.tenant, "orders": [{**ORDER, "items": []}]},
        {"tenant": tb.tenant, "stock": [{"sku": "X", "available": -1}]},
        {"tenant": tb.tenant, "leads": [{"email": "bad", "name": "B"}]},
    ):
        response = await http.post("/control/seed", json=body)
        assert response.status_code == 422, body
        error_of(response)
    surrogate = b'{"tenant": "%s", "leads": [{"email": "a@b.test", "name": "\\ud800"}]}' % tb.tenant.encode()
    response = await http.post("/control/seed", content=surrogate, headers={"content-type": "application/json"})
    assert response.status_code == 422


async def test_reset_of_one_tenant_forgets_its_data_keys_faults_and_counters(
    http: httpx2.AsyncClient, tb: Toolbox
) -> None:
    other = Toolbox(http, tb.tenant + "-b")
    key = new_key()
    first = (await tb.charge(key)).json()
    await other.charge(key)
    await tb.add_fault(operation="notify.send", status=503)
    assert (await http.post("/control/reset", params={"tenant": tb.tenant})).json() == {"reset": True}
    assert (await tb.effects())["keys"] == []
    assert (await tb.state())["charges"] == []
    again = await tb.charge(key)
    assert again.headers["Idempotent-Replayed"] == "false" and again.json()["id"] != first["id"]
    assert (await tb.post("/v1/notify/messages", {"channel": "sms", "to": "+15550100", "body": "x"})).status_code == 201
    assert await other.effect_count("payments.charge", key) == 1
    assert (await other.charge(key)).headers["Idempotent-Replayed"] == "true"


async def test_effects_filter_by_operation_and_key(tb: Toolbox) -> None:
    keys = [new_key(), new_key()]
    for key in keys:
        await tb.charge(key)
        await tb.charge(key)
    await tb.post("/v1/notify/messages", {"channel": "sms", "to": "+15550100", "body": "x"}, key=keys[0])
    body = await tb.effects("payments.charge")
    assert body["totals"] == {"payments.charge": {"executions": 2, "effects": 2, "replays": 2, "keys": 2}}
    assert len((await tb.effects(key=keys[1]))["keys"]) == 1


async def test_operations_are_listed(http: httpx2.AsyncClient) -> None:
    operations = (await http.get("/control/operations")).json()["operations"]
    assert {
        "payments.charge",
        "payments.refund",
        "inventory.reserve",
        "inventory.release",
        "shipments.create",
        "shipments.cancel",
        "crm.find_leads",
        "crm.create_lead",
        "crm.schedule_callback",
        "notify.send",
        "orders.get",
    } <= set(operations)


async def test_probes_and_metrics(http: httpx2.AsyncClient, urls: Urls, tb: Toolbox) -> None:
    assert (await http.get("/health/live")).json() == {"status": "ok"}
    ready = await http.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    await tb.charge(new_key())
    async with httpx2.AsyncClient() as client:
        metrics = (await client.get(urls.metrics)).text
    assert 'toolbox_effects_total{operation="payments.charge"}' in metrics
    assert 'toolbox_requests_total{operation="payments.charge",outcome="201"}' in metrics
    assert "toolbox_requests_in_flight" in metrics
    assert (await http.get("/metrics")).status_code == 404  # never on the API port


async def test_openapi_documents_the_backends(http: httpx2.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert {
        "/v1/orders/{order_id}",
        "/v1/payments/charges",
        "/v1/payments/refunds",
        "/v1/shipments",
        "/v1/inventory/reservations",
        "/v1/crm/leads",
        "/v1/notify/messages",
    } <= set(paths)
    assert not [path for path in paths if path.startswith("/control")]  # test hooks: documented in the README
    parameters = {p["name"]: p["required"] for p in paths["/v1/payments/charges"]["post"]["parameters"]}
    assert parameters == {"X-Toolbox-Tenant": True, "Idempotency-Key": False}
