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
from aiaas.events.schemas import EVENT_DATA_MODELS, USAGE_RECORDED, UsageRecorded
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
        cost=Decimal("0.0000123"),
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
    assert set(data["required"]) == set(model.model_fields)


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
    assert instance["data"]["cost"] == "0.0000123"
    assert UsageRecorded.model_validate(instance["data"]) == usage


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(tokens_in=-1),
        lambda d: d.update(status="weird"),
        lambda d: d.pop("request_id"),
        lambda d: d.update(extra_field=1),
        lambda d: d.update(cost="1e-5"),
    ],
)
def test_schema_and_model_reject_the_same_bad_data(mutate):
    data = _usage().model_dump(mode="json")
    mutate(data)
    instance = {
        "id": str(uuid.uuid4()),
        "type": USAGE_RECORDED,
        "tenant_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC).isoformat(),
        "trace": {},
        "data": data,
    }
    with pytest.raises(jsonschema.ValidationError):
        _validator(f"{USAGE_RECORDED}.json").validate(instance)
    with pytest.raises(ValueError):
        UsageRecorded.model_validate(data)


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
