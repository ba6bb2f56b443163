"""Injected faults, per header and per control-API rule: what a tool adapter must survive (acceptance 2, 4, 5)."""

from __future__ import annotations

import asyncio
import time

import httpx2
import pytest

from .factories import Toolbox, error_of, new_key


async def test_status_503_runs_nothing_and_the_retry_with_the_key_runs_once(tb: Toolbox) -> None:
    key = new_key()
    failed = await tb.charge(key, fault="status=503")
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "1"
    error = error_of(failed)
    assert error["code"] == "injected_fault" and error["retryable"] is True
    assert await tb.effect_count("payments.charge", key) == 0
    ok = await tb.charge(key)
    assert ok.status_code == 201 and ok.headers["Idempotent-Replayed"] == "false"
    assert await tb.effect_count("payments.charge", key) == 1


async def test_status_400_is_fatal(tb: Toolbox) -> None:
    failed = await tb.post("/v1/shipments", {"order_id": "ORD-1001"}, key=new_key(), fault="status=400")
    assert failed.status_code == 400
    assert error_of(failed)["retryable"] is False
    assert (await tb.state())["shipments"] == []


async def test_status_429_carries_retry_after(tb: Toolbox) -> None:
    limited = await tb.charge(new_key(), fault="status=429; retry_after=7")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert error_of(limited)["retryable"] is True


async def test_fail_times_fails_the_first_attempts_of_the_key(tb: Toolbox) -> None:
    key = new_key()
    statuses = [(await tb.charge(key, fault="fail_times=2")).status_code for _ in range(4)]
    assert statuses == [503, 503, 201, 201]
    assert await tb.effect_count("payments.charge", key) == 1
    other_key = new_key()  # counted per key: a new key fails its own first attempts
    assert (await tb.charge(other_key, fault="fail_times=1, status=502")).status_code == 502
    assert (await tb.charge(other_key, fault="fail_times=1, status=502")).status_code == 201


async def test_delay_slows_the_reply(tb: Toolbox) -> None:
    started = time.monotonic()
    response = await tb.get("/v1/orders/ORD-1001", fault="delay_ms=300")
    assert response.status_code == 200 and time.monotonic() - started >= 0.3


async def test_a_hang_past_the_client_timeout_still_applies_the_effect_once(tb: Toolbox) -> None:
    """The caller gives up; the backend finishes anyway; the retry with the key gets the stored answer."""
    key = new_key()
    with pytest.raises(httpx2.ReadTimeout):
        await tb.post(
            "/v1/payments/charges",
            {"order_id": "ORD-1001", "amount_minor": 10},
            key=key,
            fault="delay_ms=600",
            timeout=0.2,
        )
    in_use = await tb.post("/v1/payments/charges", {"order_id": "ORD-1001", "amount_minor": 10}, key=key)
    assert error_of(in_use)["code"] == "idempotency_key_in_use"
    await asyncio.sleep(0.6)
    replay = await tb.post("/v1/payments/charges", {"order_id": "ORD-1001", "amount_minor": 10}, key=key)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert await tb.effect_count("payments.charge", key) == 1


async def test_after_effect_stall_holds_the_reply_of_an_applied_effect(tb: Toolbox) -> None:
    """Acceptance 2's crash window: the charge is made, the caller never hears of it."""
    key = new_key()
    with pytest.raises(httpx2.ReadTimeout):
        await tb.post(
            "/v1/payments/charges",
            {"order_id": "ORD-1001", "amount_minor": 10},
            key=key,
            fault="after_effect=stall",
            timeout=0.3,
        )
    assert await tb.effect_count("payments.charge", key) == 1
    replay = await tb.post("/v1/payments/charges", {"order_id": "ORD-1001", "amount_minor": 10}, key=key)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert [c["id"] for c in (await tb.state())["charges"]] == [replay.json()["id"]]
    assert await tb.effect_count("payments.charge", key) == 1


async def test_a_stalled_reply_is_sent_after_stall_ms(tb: Toolbox) -> None:
    started = time.monotonic()
    response = await tb.charge(new_key(), fault="after_effect=stall; stall_ms=300")
    assert response.status_code == 201 and time.monotonic() - started >= 0.3


async def test_after_effect_close_drops_the_connection_after_the_effect(tb: Toolbox) -> None:
    key = new_key()
    with pytest.raises(httpx2.RemoteProtocolError):
        await tb.charge(key, fault="after_effect=close")
    assert await tb.effect_count("payments.charge", key) == 1
    replay = await tb.charge(key)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert await tb.effect_count("payments.charge", key) == 1


async def test_after_effect_error_loses_the_reply(tb: Toolbox) -> None:
    key = new_key()
    lost = await tb.charge(key, fault="after_effect=error; status=502")
    assert lost.status_code == 502 and error_of(lost)["retryable"] is True
    replay = await tb.charge(key)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert await tb.effect_count("payments.charge", key) == 1


@pytest.mark.parametrize(
    "header",
    [
        "status=200",
        "status=abc",
        "bogus=1",
        "after_effect=explode",
        "",
        "status=503;status=500",
        "after_effect=close; status=503",
        "after_effect=error; fail_times=2",
        "stall_ms=10",
        "delay_ms=999999999",
    ],
)
async def test_malformed_fault_headers_are_400(tb: Toolbox, header: str) -> None:
    response = await tb.charge(new_key(), fault=header)
    assert response.status_code == 400, header
    assert error_of(response)["code"] == "invalid_fault"
    assert (await tb.state())["charges"] == []


async def test_control_rules_fail_the_next_n_calls_of_one_tenant_and_operation(
    http: httpx2.AsyncClient, tb: Toolbox
) -> None:
    rule = await tb.add_fault(operation="shipments.create", status=503, count=2)
    assert rule["remaining"] == 2 and rule["operation"] == "shipments.create"
    other = Toolbox(http, tb.tenant + "-b")
    assert (await other.post("/v1/shipments", {"order_id": "ORD-1001"})).status_code == 201
    assert (await tb.charge()).status_code == 201  # another operation
    shipment = {"order_id": "ORD-1001"}
    statuses = [(await tb.post("/v1/shipments", shipment, key="ship-1")).status_code for _ in range(3)]
    assert statuses == [503, 503, 201]
    listed = await http.get("/control/faults", params={"tenant": tb.tenant})
    assert listed.json() == {"faults": []}


async def test_a_header_overrides_the_rules(tb: Toolbox) -> None:
    await tb.add_fault(operation="payments.charge", status=500)
    assert (await tb.charge()).status_code == 500
    assert (await tb.charge(fault="delay_ms=0")).status_code == 201


async def test_rules_are_listed_and_cleared_per_tenant(http: httpx2.AsyncClient, tb: Toolbox) -> None:
    await tb.add_fault(operation="notify.send", after_effect="close", count=1)
    await tb.add_fault(status=429)
    rules = (await http.get("/control/faults", params={"tenant": tb.tenant})).json()["faults"]
    assert [(r["operation"], r.get("after_effect"), r.get("status")) for r in rules] == [
        ("notify.send", "close", None),
        ("*", None, 429),
    ]
    assert (await http.delete("/control/faults", params={"tenant": tb.tenant})).json() == {"cleared": 2}
    assert (await tb.charge()).status_code == 201


@pytest.mark.parametrize(
    "rule",
    [
        {"operation": "payments.explode", "status": 503},
        {"status": 200},
        {},
        {"after_effect": "close", "status": 503},
        {"tenant": "bad tenant", "status": 503},
        {"status": 503, "count": 0},
    ],
)
async def test_invalid_rules_are_422(http: httpx2.AsyncClient, rule: dict[str, object]) -> None:
    response = await http.post("/control/faults", json=rule)
    assert response.status_code == 422, rule
    assert error_of(response)["message"]


async def test_in_flight_high_water_mark_counts_concurrent_calls(http: httpx2.AsyncClient, tb: Toolbox) -> None:
    """What a bulkhead test reads: at most N requests of one operation at the toolbox at once."""
    await tb.add_fault(operation="inventory.get", delay_ms=200)
    semaphore = asyncio.Semaphore(4)

    async def bounded() -> int:
        async with semaphore:
            return (await tb.get("/v1/inventory/SKU-MUG")).status_code

    assert set(await asyncio.gather(*(bounded() for _ in range(12)))) == {200}
    stats = (await http.get("/control/stats", params={"tenant": tb.tenant})).json()["operations"]["inventory.get"]
    assert stats["requests"] == 12 and stats["in_flight"] == 0 and stats["max_in_flight"] == 4
    assert stats["outcomes"] == {"200": 12}


async def test_a_fail_times_rule_counts_attempts_per_key(tb: Toolbox) -> None:
    await tb.add_fault(operation="payments.charge", fail_times=2)
    for key in (new_key(), new_key()):
        assert [(await tb.charge(key)).status_code for _ in range(3)] == [503, 503, 201]
        assert await tb.effect_count("payments.charge", key) == 1


async def test_a_stalled_reply_ends_when_the_caller_goes_away(http: httpx2.AsyncClient, tb: Toolbox) -> None:
    """A killed worker's connection closes: the toolbox stops holding the reply (and counts it as answered)."""
    await tb.add_fault(operation="payments.charge", after_effect="stall", count=1)
    with pytest.raises(httpx2.ReadTimeout):
        await tb.post("/v1/payments/charges", {"order_id": "ORD-1001", "amount_minor": 10}, key=new_key(), timeout=0.3)
    deadline = time.monotonic() + 2  # well under TOOLBOX_STALL_S=3
    stats: dict[str, object] = {}
    while time.monotonic() < deadline:
        stats = (await http.get("/control/stats", params={"tenant": tb.tenant})).json()["operations"]["payments.charge"]
        if stats["in_flight"] == 0:
            break
        await asyncio.sleep(0.05)
    assert stats["in_flight"] == 0 and stats["outcomes"] == {"stalled": 1}
