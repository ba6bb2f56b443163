"""Billing meters and meter events: one event per identifier, totals per customer and meter."""

from __future__ import annotations

import httpx2
import pytest
import stripe

from aiaas import clock


async def _meter_and_customer(client: stripe.StripeClient) -> tuple[str, str]:
    meter = await client.v1.billing.meters.create_async(
        params={
            "display_name": "Tokens",
            "event_name": "aiaas_tokens",
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
            "value_settings": {"event_payload_key": "value"},
        }
    )
    customer = await client.v1.customers.create_async(params={"name": "Acme"})
    return meter.id, customer.id


async def test_meter_create_list_retrieve(client: stripe.StripeClient) -> None:
    meter_id, _ = await _meter_and_customer(client)
    assert meter_id.startswith("mtr_")
    meter = await client.v1.billing.meters.retrieve_async(meter_id)
    assert (meter.object, meter.status, meter.event_name) == ("billing.meter", "active", "aiaas_tokens")
    assert meter.default_aggregation.formula == "sum"
    assert meter.customer_mapping.to_dict() == {"event_payload_key": "stripe_customer_id", "type": "by_id"}
    listed = await client.v1.billing.meters.list_async(params={"status": "active"})
    assert [m.id for m in listed.data] == [meter_id]
    with pytest.raises(stripe.InvalidRequestError) as duplicate:
        await client.v1.billing.meters.create_async(
            params={"display_name": "Again", "event_name": "aiaas_tokens", "default_aggregation": {"formula": "sum"}}
        )
    assert duplicate.value.code == "resource_already_exists"


async def test_identifier_is_counted_once(client: stripe.StripeClient, control: httpx2.AsyncClient) -> None:
    meter_id, customer_id = await _meter_and_customer(client)
    now = int(clock.now().timestamp())  # the stand-in's clock
    for identifier, value in (("u-1", "100"), ("u-2", "50")):
        event = await client.v1.billing.meter_events.create_async(
            params={
                "event_name": "aiaas_tokens",
                "payload": {"stripe_customer_id": customer_id, "value": value},
                "identifier": identifier,
                "timestamp": now,
            }
        )
        assert (event.object, event.identifier, event.timestamp) == ("billing.meter_event", identifier, now)
    with pytest.raises(stripe.InvalidRequestError) as duplicate:
        await client.v1.billing.meter_events.create_async(
            params={
                "event_name": "aiaas_tokens",
                "payload": {"stripe_customer_id": customer_id, "value": "100"},
                "identifier": "u-1",
            }
        )
    assert (duplicate.value.code, duplicate.value.param) == ("resource_already_exists", "identifier")
    ledger = (await control.get("/_sim/meter_events")).json()
    assert ledger["totals"] == [
        {"customer": customer_id, "meter": meter_id, "event_name": "aiaas_tokens", "value": "150", "events": 2}
    ]
    assert ledger["duplicates_rejected"] == 1
    summaries = await client.v1.billing.meters.event_summaries.list_async(
        meter_id, params={"customer": customer_id, "start_time": now - 60, "end_time": now + 60}
    )
    assert summaries.data[0].aggregated_value == 150


async def test_meter_event_validation(client: stripe.StripeClient) -> None:
    _, customer_id = await _meter_and_customer(client)
    cases = [
        ({"event_name": "nope", "payload": {"stripe_customer_id": customer_id, "value": "1"}}, "event_name"),
        (
            {"event_name": "aiaas_tokens", "payload": {"stripe_customer_id": "cus_x", "value": "1"}},
            "payload[stripe_customer_id]",
        ),
        ({"event_name": "aiaas_tokens", "payload": {"stripe_customer_id": customer_id}}, "payload[value]"),
        (
            {"event_name": "aiaas_tokens", "payload": {"stripe_customer_id": customer_id, "value": "x"}},
            "payload[value]",
        ),
        (
            {
                "event_name": "aiaas_tokens",
                "payload": {"stripe_customer_id": customer_id, "value": "1"},
                "timestamp": 1,
            },
            "timestamp",
        ),
    ]
    for params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            await client.v1.billing.meter_events.create_async(params=params)  # type: ignore[arg-type]
        assert (caught.value.http_status, caught.value.param) == (400, param)
