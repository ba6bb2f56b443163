"""Stripe-like idempotency keys (issue 15, acceptance 3): one effect per key, the first answer replayed."""

from __future__ import annotations

import asyncio

import httpx2

from .factories import CHARGE, Toolbox, error_of, new_key


async def test_same_key_twice_is_one_effect_and_the_stored_answer(tb: Toolbox) -> None:
    key = new_key()
    first = await tb.charge(key)
    again = await tb.charge(key)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content  # byte for byte
    assert first.headers["Idempotent-Replayed"] == "false"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Original-Request"] == first.headers["Request-Id"]
    assert await tb.effect_count("payments.charge", key) == 1
    assert [c["id"] for c in (await tb.state())["charges"]] == [first.json()["id"]]
    row = (await tb.effects("payments.charge", key))["keys"]
    assert row == [{"operation": "payments.charge", "key": key, "executions": 1, "effects": 1, "replays": 1}]


async def test_canonical_arguments_ignore_key_order_and_spelled_out_defaults(tb: Toolbox) -> None:
    key = new_key()
    first = await tb.post("/v1/payments/charges", {"amount_minor": 5198, "order_id": "ORD-1001"}, key=key)
    again = await tb.post(
        "/v1/payments/charges",
        {"order_id": "ORD-1001", "payment_method": "pm_card_visa", "currency": "usd", "amount_minor": 5198},
        key=key,
    )
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()


async def test_twenty_concurrent_calls_with_one_key_make_one_effect(tb: Toolbox) -> None:
    key = new_key()
    answers = await asyncio.gather(*(tb.charge(key) for _ in range(20)))
    created = [a for a in answers if a.status_code == 201]
    in_use = [a for a in answers if a.status_code == 409]
    assert len(created) + len(in_use) == 20
    assert len({a.json()["id"] for a in created}) == 1
    for answer in in_use:  # Stripe's answer to a concurrent request: retry the same key later
        assert error_of(answer)["code"] == "idempotency_key_in_use"
    assert await tb.effect_count("payments.charge", key) == 1
    assert len((await tb.state())["charges"]) == 1


async def test_a_concurrent_request_while_the_first_runs_gets_a_retryable_409(tb: Toolbox) -> None:
    key = new_key()
    slow = asyncio.create_task(tb.charge(key, fault="delay_ms=400"))
    await asyncio.sleep(0.15)
    busy = await tb.charge(key)
    assert busy.status_code == 409 and busy.headers["Retry-After"] == "1"
    error = error_of(busy)
    assert error["code"] == "idempotency_key_in_use" and error["retryable"] is True
    first = await slow
    retried = await tb.charge(key)
    assert first.status_code == 201 and retried.json() == first.json()
    assert await tb.effect_count("payments.charge", key) == 1


async def test_same_key_other_arguments_or_operation_is_a_fatal_409(tb: Toolbox) -> None:
    key = new_key()
    assert (await tb.charge(key)).status_code == 201
    other_amount = await tb.charge(key, amount_minor=1)
    assert other_amount.status_code == 409
    error = error_of(other_amount)
    assert error["code"] == "idempotency_key_reused" and error["retryable"] is False
    other_operation = await tb.post("/v1/notify/messages", {"channel": "sms", "to": "+15550100", "body": "hi"}, key=key)
    assert error_of(other_operation)["code"] == "idempotency_key_reused"
    assert await tb.effect_count("payments.charge", None) == 1
    assert (await tb.state())["messages"] == []


async def test_requests_without_a_key_are_never_deduplicated(tb: Toolbox) -> None:
    first, second = await tb.charge(), await tb.charge()
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert "Idempotent-Replayed" not in second.headers
    assert await tb.effect_count("payments.charge", None) == 2
    assert (await tb.effects("payments.charge"))["keys"][0]["key"] is None


async def test_keys_are_scoped_to_the_tenant(http: httpx2.AsyncClient, tb: Toolbox) -> None:
    other = Toolbox(http, tb.tenant + "-other")
    key = new_key()
    mine, theirs = await tb.charge(key), await other.charge(key)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert await tb.effect_count("payments.charge", key) == 1
    assert await other.effect_count("payments.charge", key) == 1


async def test_a_business_refusal_is_stored_and_replayed_without_effect(tb: Toolbox) -> None:
    key = new_key()
    declined = await tb.charge(key, payment_method="pm_card_declined")
    again = await tb.charge(key, payment_method="pm_card_declined")
    assert declined.status_code == again.status_code == 402
    assert error_of(declined)["code"] == "card_declined" and error_of(declined)["retryable"] is False
    assert again.content == declined.content and again.headers["Idempotent-Replayed"] == "true"
    rows = (await tb.effects("payments.charge", key))["keys"]
    assert rows == [{"operation": "payments.charge", "key": key, "executions": 1, "effects": 0, "replays": 1}]


async def test_invalid_requests_are_not_stored(tb: Toolbox) -> None:
    key = new_key()
    invalid = await tb.post("/v1/payments/charges", {**CHARGE, "amount_minor": -5}, key=key)
    assert invalid.status_code == 422 and error_of(invalid)["param"] == "amount_minor"
    valid = await tb.charge(key)
    assert valid.status_code == 201 and valid.headers["Idempotent-Replayed"] == "false"


async def test_expired_keys_run_again(http: httpx2.AsyncClient, tb: Toolbox) -> None:
    key = new_key()
    first = await tb.charge(key)
    expired = await http.delete("/control/idempotency-keys", params={"tenant": tb.tenant})
    assert expired.json() == {"expired": 1}
    second = await tb.charge(key)
    assert second.json()["id"] != first.json()["id"]
    assert await tb.effect_count("payments.charge", key) == 2


async def test_reads_ignore_the_key(tb: Toolbox) -> None:
    response = await tb.http.get("/v1/orders/ORD-1001", headers=tb.headers(key=new_key()))
    assert response.status_code == 200 and "Idempotent-Replayed" not in response.headers


async def test_malformed_keys_are_400(tb: Toolbox) -> None:
    for key in ("x" * 256, "tab\there"):
        response = await tb.charge(key)
        assert response.status_code == 400, key
        assert error_of(response)["code"] == "invalid_idempotency_key"
    assert (await tb.state())["charges"] == []
