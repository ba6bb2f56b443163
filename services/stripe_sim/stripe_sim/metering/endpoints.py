"""Billing meters, meter events (each `identifier` accepted once) and meter event summaries."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from starlette.routing import Route

from stripe_sim.errors import ParamError, StripeError, resource_missing
from stripe_sim.store import list_object, new_id, now
from stripe_sim.wire import Call, retriever, stripe_route

__all__ = ["metering_routes"]

Obj = dict[str, Any]
_FORMULAS = ("count", "last", "sum")
_PAST_WINDOW_S = 35 * 24 * 3600
_FUTURE_WINDOW_S = 5 * 60


def create_meter(call: Call) -> Obj:
    params = call.params.only(
        ["display_name", "event_name", "default_aggregation", "customer_mapping", "value_settings", "event_time_window"]
    )
    display_name = params.required_text("display_name", max_length=250)
    event_name = params.required_text("event_name", max_length=100)
    aggregation = params.hash("default_aggregation", required=True)
    assert aggregation is not None
    aggregation.only(["formula"])
    formula = aggregation.choice("formula", _FORMULAS, required=True)
    mapping = params.hash("customer_mapping")
    payload_key, mapping_type = "stripe_customer_id", "by_id"
    if mapping is not None:
        mapping.only(["event_payload_key", "type"])
        payload_key = mapping.required_text("event_payload_key", max_length=100)
        mapping_type = mapping.choice("type", ("by_id",), required=True) or "by_id"
    value_settings = params.hash("value_settings")
    value_key = "value"
    if value_settings is not None:
        value_settings.only(["event_payload_key"])
        value_key = value_settings.required_text("event_payload_key", max_length=100)
    window = params.choice("event_time_window", ("day", "hour"))
    if _active_meter(call, event_name) is not None:
        raise StripeError(
            400,
            f"An active meter with event_name '{event_name}' already exists.",
            code="resource_already_exists",
            param="event_name",
        )
    created = now()
    meter: Obj = {
        "id": new_id("mtr"),
        "object": "billing.meter",
        "created": created,
        "customer_mapping": {"event_payload_key": payload_key, "type": mapping_type},
        "default_aggregation": {"formula": formula},
        "display_name": display_name,
        "event_name": event_name,
        "event_time_window": window,
        "livemode": False,
        "status": "active",
        "status_transitions": {"deactivated_at": None},
        "updated": created,
        "value_settings": {"event_payload_key": value_key},
    }
    return call.created(meter, "billing.meter.created")


def _active_meter(call: Call, event_name: str) -> Obj | None:
    for meter in call.sim.store.all("billing.meter"):
        if meter["event_name"] == event_name and meter["status"] == "active":
            return meter
    return None


def list_meters(call: Call) -> Obj:
    params = call.params.only(["status", "limit", "starting_after", "ending_before"])
    status = params.choice("status", ("active", "inactive"))
    return call.sim.store.page(
        "billing.meter", params, "/v1/billing/meters", where=lambda m: status is None or m["status"] == status
    )


def create_meter_event(call: Call) -> Obj:
    params = call.params.only(["event_name", "payload", "identifier", "timestamp"])
    event_name = params.required_text("event_name", max_length=100)
    payload = params.hash("payload", required=True)
    assert payload is not None
    identifier = params.text("identifier", max_length=100) or str(uuid.uuid4())
    created = now()
    timestamp = params.integer("timestamp")
    if timestamp is None:
        timestamp = created
    elif not created - _PAST_WINDOW_S <= timestamp <= created + _FUTURE_WINDOW_S:
        raise ParamError(
            "Timestamp must be within the past 35 calendar days or up to 5 minutes in the future.",
            param="timestamp",
        )
    meter = _active_meter(call, event_name)
    if meter is None:
        raise StripeError(
            400,
            f"No active meter was found for event_name '{event_name}'.",
            code="resource_missing",
            param="event_name",
        )
    customer_key = meter["customer_mapping"]["event_payload_key"]
    customer_id = payload.required_text(customer_key, max_length=255)
    value_key = meter["value_settings"]["event_payload_key"]
    value = Decimal(1)
    if meter["default_aggregation"]["formula"] != "count":
        parsed = payload.decimal(value_key, required=True)
        assert parsed is not None
        value = parsed
    call.sim.store.get("customer", customer_id, param=payload.name(customer_key), status=400)
    ledger = call.sim.meter_events
    if identifier in ledger.identifiers:
        ledger.duplicates_rejected += 1
        raise StripeError(
            400,
            f"A meter event with identifier '{identifier}' already exists.",
            code="resource_already_exists",
            param="identifier",
        )
    ledger.identifiers.add(identifier)
    ledger.events.append(
        {
            "identifier": identifier,
            "event_name": event_name,
            "meter": meter["id"],
            "customer": customer_id,
            "value": format(value, "f"),
            "timestamp": timestamp,
            "created": created,
        }
    )
    return {
        "object": "billing.meter_event",
        "created": created,
        "event_name": event_name,
        "identifier": identifier,
        "livemode": False,
        "payload": dict(payload.data),
        "timestamp": timestamp,
    }


def list_event_summaries(call: Call) -> Obj:
    """One summary over [start_time, end_time) for a customer (no `value_grouping_window`)."""
    params = call.params.only(["customer", "start_time", "end_time", "limit", "starting_after", "ending_before"])
    meter = call.sim.store.get("billing.meter", call.path["id"])
    customer = params.required_text("customer")
    start = params.integer("start_time", required=True)
    end = params.integer("end_time", required=True)
    assert start is not None and end is not None
    if call.sim.store.find(customer) is None:
        raise resource_missing("customer", customer, param="customer", status=400)
    events = [
        event
        for event in call.sim.meter_events.events
        if event["meter"] == meter["id"] and event["customer"] == customer and start <= event["timestamp"] < end
    ]
    formula = meter["default_aggregation"]["formula"]
    if formula == "last":
        total = Decimal(events[-1]["value"]) if events else Decimal(0)
    else:
        total = sum((Decimal(event["value"]) for event in events), Decimal(0))
    summary = {
        "id": f"mtrsum_{meter['id'][4:]}_{customer[4:]}_{start}",
        "object": "billing.meter_event_summary",
        "aggregated_value": float(total),
        "end_time": end,
        "livemode": False,
        "meter": meter["id"],
        "start_time": start,
    }
    return list_object(f"/v1/billing/meters/{meter['id']}/event_summaries", [summary])


def metering_routes() -> list[Route]:
    return [
        stripe_route("/v1/billing/meters", {"POST": create_meter, "GET": list_meters}),
        stripe_route("/v1/billing/meters/{id}", {"GET": retriever("billing.meter")}),
        stripe_route("/v1/billing/meters/{id}/event_summaries", {"GET": list_event_summaries}),
        stripe_route("/v1/billing/meter_events", {"POST": create_meter_event}),
    ]
