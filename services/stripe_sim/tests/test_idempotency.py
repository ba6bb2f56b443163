"""Idempotent requests exactly as Stripe answers them, and injected faults."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import pytest
import stripe

Writes = Callable[..., Awaitable[list[dict[str, Any]]]]

PARAMS = {"email": "billing@acme.test", "metadata": {"tenant_id": "t-9"}}


async def test_same_key_same_params_replays_first_response(
    client: stripe.StripeClient, control: httpx2.AsyncClient, writes: Writes
) -> None:
    first = await client.v1.customers.create_async(params=PARAMS, options={"idempotency_key": "cust-t-9"})
    again = await client.v1.customers.create_async(params=PARAMS, options={"idempotency_key": "cust-t-9"})
    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert (await client.v1.customers.list_async()).data == [first]
    log = await writes(idempotency_key="cust-t-9")
    assert [(entry["status"], entry["replayed"]) for entry in log] == [(200, False), (200, True)]
    assert log[0]["params"] == PARAMS


async def test_same_key_other_params_is_idempotency_error(client: stripe.StripeClient) -> None:
    await client.v1.customers.create_async(params=PARAMS, options={"idempotency_key": "k-1"})
    with pytest.raises(stripe.IdempotencyError) as caught:
        await client.v1.customers.create_async(params={"email": "x@y.test"}, options={"idempotency_key": "k-1"})
    assert caught.value.http_status == 400
    assert caught.value.json_body is not None
    assert caught.value.json_body["error"]["type"] == "idempotency_error"
    with pytest.raises(stripe.IdempotencyError):
        await client.v1.products.create_async(params={"name": "p"}, options={"idempotency_key": "k-1"})
    assert len((await client.v1.customers.list_async()).data) == 1


async def test_invalid_params_are_not_saved(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.products.create_async(params={"name": "p", "bogus": "1"}, options={"idempotency_key": "k-2"})  # type: ignore[typeddict-unknown-key]
    product = await client.v1.products.create_async(params={"name": "p"}, options={"idempotency_key": "k-2"})
    assert product.name == "p"


async def test_keys_are_scoped_to_the_secret_key(sim_url: str, client: stripe.StripeClient) -> None:
    other = stripe.StripeClient(
        "sk_test_other_account", base_addresses={"api": sim_url}, http_client=stripe.AIOHTTPClient()
    )
    try:
        mine = await client.v1.customers.create_async(params=PARAMS, options={"idempotency_key": "shared"})
        theirs = await other.v1.customers.create_async(params=PARAMS, options={"idempotency_key": "shared"})
        assert mine.id != theirs.id
    finally:
        await other._requestor._client.close_async()  # type: ignore[attr-defined]


async def test_fault_before_then_retry_creates_once(
    client: stripe.StripeClient, control: httpx2.AsyncClient, writes: Writes
) -> None:
    rule = await control.post("/_sim/faults", json={"status": 429, "count": 1, "path_prefix": "/v1/customers"})
    assert rule.status_code == 201
    with pytest.raises(stripe.RateLimitError) as limited:
        await client.v1.customers.create_async(params=PARAMS, options={"idempotency_key": "k-3"})
    assert limited.value.json_body is not None
    assert limited.value.json_body["error"]["code"] == "rate_limit"
    created = await client.v1.customers.create_async(params=PARAMS, options={"idempotency_key": "k-3"})
    assert [c.id for c in (await client.v1.customers.list_async()).data] == [created.id]
    assert [(e["status"], e["fault"], e["replayed"]) for e in await writes(idempotency_key="k-3")] == [
        (429, "429 before", False),
        (200, None, False),
    ]


async def test_fault_after_the_write_is_answered_by_replay(
    client: stripe.StripeClient, control: httpx2.AsyncClient, writes: Writes
) -> None:
    """The response is lost after the customer was created: the retry with the same key gets it replayed."""
    await control.post("/_sim/faults", json={"status": 500, "count": 1, "when": "after", "method": "POST"})
    with pytest.raises(stripe.APIError) as lost:
        await client.v1.customers.create_async(params=PARAMS, options={"idempotency_key": "k-4"})
    assert lost.value.http_status == 500
    replayed = await client.v1.customers.create_async(params=PARAMS, options={"idempotency_key": "k-4"})
    assert [c.id for c in (await client.v1.customers.list_async()).data] == [replayed.id]
    assert [(e["status"], e["replayed"]) for e in await writes(idempotency_key="k-4")] == [
        (500, False),
        (200, True),
    ]
    assert (await control.get("/_sim/faults")).json() == {"faults": []}


async def test_expired_key_executes_again(client: stripe.StripeClient, control: httpx2.AsyncClient) -> None:
    first = await client.v1.customers.create_async(params=PARAMS, options={"idempotency_key": "k-5"})
    assert (await control.delete("/_sim/idempotency_keys")).json() == {"expired": True}
    second = await client.v1.customers.create_async(params=PARAMS, options={"idempotency_key": "k-5"})
    assert second.id != first.id
