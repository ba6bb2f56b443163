"""JSON answers: an object satisfying a `response_format` schema, filled from what the policy knows."""

from __future__ import annotations

from typing import Any

from provider_sim.tools import arguments_for

__all__ = ["fill_schema", "json_schema_of"]

# Property names that take the answer text, the cited source numbers or the intent.
_TEXT_NAMES = {"answer", "text", "reply", "response", "message", "content", "summary"}
_CITATION_NAMES = {"citations", "sources", "cited", "references"}
_INTENT_NAMES = {"intent", "category", "label", "classification", "topic"}


def json_schema_of(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schema a `json_schema` response format asks for; `{}` for `json_object`; None for text."""
    if response_format is None:
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {}
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return schema if isinstance(schema, dict) else {}
    return None


def _coerce(value: Any, schema: dict[str, Any]) -> Any:
    """`value` converted to the schema's type, or None when it cannot be."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if isinstance(schema.get("enum"), list) and value not in schema["enum"]:
        return None
    if kind == "array":
        items = value if isinstance(value, list) else [value]
        item_schema = schema.get("items") or {}
        coerced = [_coerce(item, item_schema) if item_schema else item for item in items]
        return [item for item in coerced if item is not None]
    if kind == "string":
        return value if isinstance(value, str) else " ".join(map(str, value)) if isinstance(value, list) else str(value)
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None
        try:
            number = float(value)
        except ValueError:
            return None
        return int(number) if kind == "integer" else number
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "object":
        return value if isinstance(value, dict) else None
    return value


def _fact_for(name: str, facts: dict[str, Any]) -> Any:
    key = name.lower()
    if key in facts:
        return facts[key]
    if key in _TEXT_NAMES:
        return facts.get("answer")
    if key in _CITATION_NAMES:
        return facts.get("citations")
    if key in _INTENT_NAMES:
        return facts.get("intent")
    return None


def fill_schema(schema: dict[str, Any], facts: dict[str, Any], seed: int) -> dict[str, Any]:
    """An object with every required property of `schema` (and every known optional one), typed as declared.

    Known values come from `facts` (lower-case names; `answer`, `citations`, `intent` also fill their
    synonyms); what nothing knows gets a deterministic placeholder of the right shape. An empty schema
    (`json_object`) gets all facts, keys sorted.
    """
    if not schema:  # json_object: everything known
        return dict(sorted(facts.items()))
    properties: dict[str, Any] = schema.get("properties") or {}
    required = [r for r in schema.get("required") or [] if isinstance(r, str)]
    placeholders = arguments_for({**schema, "type": "object"}, seed)
    result: dict[str, Any] = {}
    for name in [*required, *(p for p in properties if p not in required)]:
        prop_schema = properties.get(name) or {}
        fact = _fact_for(name, facts)
        value = _coerce(fact, prop_schema) if fact is not None else None
        if value is not None:
            result[name] = value
        elif name in required:
            result[name] = placeholders.get(name)
    return result
