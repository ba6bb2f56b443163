"""The pydantic envelope and event data models agree with the JSON Schemas in data-plane/events/."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import jsonschema
import pytest
from referencing import Registry, Resource

from aiaas.events.envelope import EventEnvelope, event_id
from aiaas.events.schemas import EVENT_DATA_MODELS, USAGE_RECORDED, UsageRecorded, input_names
from data_plane import EVENTS_DIR


def _registry() -> Registry:
    resources = []
    for path in EVENTS_DIR.glob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((path.name, Resource.from_contents(schema)))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((EVENTS_DIR / name).read_text())
    return jsonschema.Draft202012Validator(schema, registry=_registry(), format_checker=jsonschema.FormatChecker())


def _usage() -> UsageRecorded:
    now = datetime.now(UTC)
    return UsageRecorded(
        request_id="req-1",
        api_key_id=uuid.uuid4(),
        model_alias="gpt",
        provider="openai",
        deployment="d1",
        upstream_model="m",
        stream=True,
        status="success",
        http_status=200,
        error_code=None,
        tokens_in=10,
        tokens_out=20,
        cost_usd=Decimal("0.0000123"),
        latency_ms=12.5,
        ttft_ms=3.0,
        attempts=1,
        started_at=now,
        completed_at=now,
    )


def test_every_event_type_has_a_schema_and_a_model():
    files = {p.stem for p in EVENTS_DIR.glob("*.json")} - {"envelope"}
    assert files == set(EVENT_DATA_MODELS)


@pytest.mark.parametrize("event_type", sorted(EVENT_DATA_MODELS))
def test_model_fields_match_schema(event_type):
    schema = json.loads((EVENTS_DIR / f"{event_type}.json").read_text())
    data = schema["properties"]["data"]
    model = EVENT_DATA_MODELS[event_type]
    assert set(data["properties"]) == set(model.model_fields)
    # A field added later with a default (absent on events already in flight) may be optional in both.
    model_required = {name for name, field in model.model_fields.items() if field.is_required()}
    assert model_required <= set(data["required"]) <= set(model.model_fields)


def test_pydantic_envelope_validates_against_json_schema():
    usage = _usage()
    envelope = EventEnvelope(
        id=event_id(USAGE_RECORDED, usage.request_id),
        type=USAGE_RECORDED,
        tenant_id=uuid.uuid4(),
        trace={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
        data=usage.model_dump(mode="json"),
    )
    instance = json.loads(envelope.to_json())
    _validator("envelope.json").validate(instance)
    _validator(f"{USAGE_RECORDED}.json").validate(instance)
    assert instance["data"]["cost_usd"] == "0.0000123" and "cost" not in instance["data"]
    assert UsageRecorded.model_validate(instance["data"]) == usage


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(tokens_in=-1),
        lambda d: d.update(status="weird"),
        lambda d: d.pop("request_id"),
        lambda d: d.update(extra_field=1),
        lambda d: d.update(cost_usd="1e-5"),
    ],
)
def test_schema_and_model_reject_the_same_bad_data(mutate):
    data = _usage().model_dump(mode="json")
    mutate(data)
    with pytest.raises(jsonschema.ValidationError):
        _validator(f"{USAGE_RECORDED}.json").validate(_envelope(USAGE_RECORDED, data))
    with pytest.raises(ValueError):
        UsageRecorded.model_validate(data)


# Events written before money fields named their unit (still in JetStream, a gateway's WAL or an outbox).
_OLD_NAMES = [
    (USAGE_RECORDED, "cost", "cost_usd", "0.0000123"),
    ("billing.usage.metered", "charge", "charge_minor", "12.5000000001"),
]


@pytest.mark.parametrize(("event_type", "old", "new", "amount"), _OLD_NAMES)
def test_old_money_names_are_read_as_the_same_amount_and_written_under_the_new_name(event_type, old, new, amount):
    model = EVENT_DATA_MODELS[event_type]
    current = _sample(event_type, new, amount)
    legacy = {old if key == new else key: value for key, value in current.items() if key != "currency"}
    parsed = model.model_validate(legacy)
    assert getattr(parsed, new) == Decimal(amount)
    assert parsed == model.model_validate(current)
    dumped = parsed.model_dump(mode="json")
    assert dumped[new] == amount and old not in dumped
    _validator(f"{event_type}.json").validate(_envelope(event_type, dumped))


def test_input_names_list_old_names_next_to_the_fields():
    names = input_names(UsageRecorded)
    assert {"cost_usd", "cost", "tokens_in", "request_id"} <= names
    assert names - {"cost"} == set(UsageRecorded.model_fields)


def test_old_invoice_line_name_is_read_as_the_same_amount():
    line = {"description": "d", "tier": "standard", "quantity": 1000, "unit_amount": "0.05", "amount_minor": 0}
    parsed = EVENT_DATA_MODELS["billing.invoice.finalized"].model_validate(
        {
            "invoice_id": str(uuid.uuid4()),
            "period_start": "2026-01-01T00:00:00Z",
            "period_end": "2026-02-01T00:00:00Z",
            "currency": "usd",
            "subtotal_minor": 0,
            "credits_applied_minor": 0,
            "tax_minor": 0,
            "total_minor": 0,
            "lines": [line],
        }
    )
    dumped = parsed.model_dump(mode="json")["lines"][0]
    assert dumped["unit_amount_minor"] == "0.05" and "unit_amount" not in dumped


def _sample(event_type: str, new: str, amount: str) -> dict:
    if event_type == USAGE_RECORDED:
        return {**_usage().model_dump(mode="json"), new: amount}
    return {
        "source_event_id": str(uuid.uuid4()),
        "period_start": "2026-01-01T00:00:00Z",
        "model_alias": "m",
        "tier": "standard",
        "tokens_in": 1,
        "tokens_out": 2,
        "requests": 1,
        "currency": "usd",
        new: amount,
    }


def _envelope(event_type: str, data: dict) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "tenant_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC).isoformat(),
        "trace": {},
        "data": data,
    }


def test_envelope_rejects_bad_type_and_extra_fields():
    with pytest.raises(ValueError):
        EventEnvelope(id=uuid.uuid4(), type="NoDots", tenant_id=uuid.uuid4(), data={})
    with pytest.raises(ValueError):
        EventEnvelope.model_validate(
            {"id": str(uuid.uuid4()), "type": "a.b", "tenant_id": str(uuid.uuid4()), "data": {}, "x": 1}
        )


def test_event_id_is_deterministic():
    assert event_id(USAGE_RECORDED, "r1") == event_id(USAGE_RECORDED, "r1")
    assert event_id(USAGE_RECORDED, "r1") != event_id(USAGE_RECORDED, "r2")
