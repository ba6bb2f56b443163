"""Customers, products and prices through the official SDK, and Stripe's error shapes on the wire."""

from __future__ import annotations

from decimal import Decimal

import httpx2
import pytest
import stripe


async def test_customer_create_retrieve_update_list(client: stripe.StripeClient) -> None:
    created = await client.v1.customers.create_async(
        params={"email": "ops@acme.test", "name": "Acme", "metadata": {"tenant_id": "t-1"}}
    )
    assert created.id.startswith("cus_")
    assert (created.object, created.livemode, created.email) == ("customer", False, "ops@acme.test")
    assert created.metadata.to_dict() == {"tenant_id": "t-1"}
    fetched = await client.v1.customers.retrieve_async(created.id)
    assert (fetched.id, fetched.name, fetched.created) == (created.id, "Acme", created.created)
    updated = await client.v1.customers.update_async(
        created.id, params={"name": "Acme Inc", "metadata": {"plan": "pro"}}
    )
    assert updated.name == "Acme Inc"
    assert updated.metadata.to_dict() == {"tenant_id": "t-1", "plan": "pro"}
    await client.v1.customers.create_async(params={"email": "other@acme.test"})
    listed = await client.v1.customers.list_async(params={"email": "ops@acme.test"})
    assert [customer.id for customer in listed.data] == [created.id]
    assert (listed.object, listed.has_more, listed.url) == ("list", False, "/v1/customers")
    everyone = await client.v1.customers.list_async(params={"limit": 1})
    assert len(everyone.data) == 1 and everyone.has_more is True


async def test_metered_price_needs_a_meter(client: stripe.StripeClient) -> None:
    meter = await client.v1.billing.meters.create_async(
        params={"display_name": "Tokens", "event_name": "tokens", "default_aggregation": {"formula": "sum"}}
    )
    product = await client.v1.products.create_async(params={"name": "AI tokens"})
    assert product.id.startswith("prod_") and product.object == "product"
    price = await client.v1.prices.create_async(
        params={
            "currency": "USD",
            "product": product.id,
            "unit_amount_decimal": "0.002",
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )
    assert price.id.startswith("price_")
    assert (price.currency, price.unit_amount_decimal, price.unit_amount, price.type) == (
        "usd",
        Decimal("0.002"),
        None,
        "recurring",
    )
    assert price.recurring.to_dict() == {
        "interval": "month",
        "interval_count": 1,
        "meter": meter.id,
        "trial_period_days": None,
        "usage_type": "metered",
    }
    assert (await client.v1.prices.retrieve_async(price.id)).product == product.id
    assert (await client.v1.products.retrieve_async(product.id)).name == "AI tokens"
    with pytest.raises(stripe.InvalidRequestError) as missing_meter:
        await client.v1.prices.create_async(
            params={
                "currency": "usd",
                "product": product.id,
                "unit_amount": 1,
                "recurring": {"interval": "month", "usage_type": "metered"},
            }
        )
    assert (missing_meter.value.http_status, missing_meter.value.param) == (400, "recurring[meter]")


async def test_error_shapes(client: stripe.StripeClient, control: httpx2.AsyncClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await client.v1.customers.retrieve_async("cus_missing")
    assert (missing.value.http_status, missing.value.code, missing.value.param) == (404, "resource_missing", "id")
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        await client.v1.customers.create_async(params={"emial": "typo@x.test"})  # type: ignore[typeddict-unknown-key]
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "emial")
    with pytest.raises(stripe.InvalidRequestError) as required:
        await client.v1.products.create_async(params={})  # type: ignore[typeddict-item]
    assert (required.value.code, required.value.param) == ("parameter_missing", "name")
    with pytest.raises(stripe.InvalidRequestError) as integer:
        await client.v1.prices.create_async(
            params={"currency": "usd", "product_data": {"name": "x"}, "unit_amount": "1.5"}
        )  # type: ignore[typeddict-item]
    assert integer.value.code == "parameter_invalid_integer"

    no_key = await control.get("/v1/customers")
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "invalid_request_error"
    assert no_key.json()["error"]["code"] == "api_key_missing"
    bad_key = await control.get("/v1/customers", headers={"Authorization": "Bearer sk_live_nope"})
    assert (bad_key.status_code, bad_key.json()["error"]["code"]) == (401, "api_key_invalid")
    headers = {"Authorization": "Bearer sk_test_x"}
    unknown_url = await control.post("/v1/charges/ch_1/explode", headers=headers)
    assert unknown_url.status_code == 404
    assert unknown_url.json()["error"]["message"].startswith(
        "Unrecognized request URL (POST: /v1/charges/ch_1/explode)"
    )
    wrong_method = await control.delete("/v1/customers", headers=headers)
    assert wrong_method.status_code == 404
    bad_body = await control.post(
        "/v1/customers", content=b"\xff\xfe=1", headers={**headers, "Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (bad_body.status_code, bad_body.json()["error"]["type"]) == (400, "invalid_request_error")
    conflict = await control.post("/v1/customers", content="a=1&a[b]=2", headers=headers)
    assert conflict.status_code == 400
    bad_limit = await control.get("/v1/customers?limit=1000", headers=headers)
    assert (bad_limit.status_code, bad_limit.json()["error"]["param"]) == (400, "limit")


async def test_basic_auth_and_nested_form_encoding(control: httpx2.AsyncClient) -> None:
    """curl -u sk_test_...: sends Basic auth; nested keys and `expand[]` decode like Stripe's."""
    auth = httpx2.BasicAuth("sk_test_curl", "")
    response = await control.post(
        "/v1/customers",
        content="email=a%40b.test&metadata[k]=v&metadata[empty]=&expand[]=invoice_settings",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=auth,
    )
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"k": "v", "empty": ""}
    assert response.headers["request-id"].startswith("req_")
    assert response.headers["stripe-version"] == "2026-10-28.endive"
