"""A run's input at the API's edge: storable, canonical (its sha256 is the idempotency check's), valid against the
agent manifest's input JSON Schema, and the lock it takes (an order in progress is locked against a second run).

422 messages name the failing location and the schema keyword, never the input's values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from aiaas.errors import Unprocessable
from aiaas.storable import storable_json
from orchestrator.agents.manifest import AgentManifest

__all__ = ["canonical", "canonical_sha256", "check_input", "lock_key", "storable_value"]

_MAX_VALIDATORS = 256
_validators: dict[bytes, Any] = {}


def storable_value(value: Any, param: str) -> bytes:
    """`value` as canonical JSON (sorted keys), or 422 when Postgres could not store it or it nests too deeply."""
    try:
        storable_json(value)
    except ValueError as exc:
        raise Unprocessable(f"Invalid {param}: {exc}.", code=f"invalid_{param}", param=param) from None
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        raise Unprocessable(f"Invalid {param}: it nests too deeply.", code=f"invalid_{param}", param=param) from None


def canonical(value: dict[str, Any]) -> bytes:
    return storable_value(value, "input")


def canonical_sha256(value: dict[str, Any]) -> str:
    """sha256 of the input's canonical JSON: two bodies with equal inputs have equal hashes."""
    return hashlib.sha256(canonical(value)).hexdigest()


def _validator(schema: dict[str, Any]) -> Any:
    key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    found = _validators.get(key)
    if found is None:
        cls = validator_for(schema, default=Draft202012Validator)
        found = cls(schema, format_checker=FormatChecker())
        if len(_validators) >= _MAX_VALIDATORS:
            _validators.clear()
        _validators[key] = found
    return found


def _location(path: Sequence[Any]) -> str:
    where = "input"
    for part in path:
        where += f"[{part}]" if isinstance(part, int) else f".{str(part)[:60]}"
    return where


def _describe(error: SchemaValidationError) -> tuple[str, str]:
    """(param, message) of the first failure, in words taken from the schema and the path only."""
    where = _location(error.absolute_path)
    keyword = str(error.validator)
    if keyword == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        if missing:
            name = str(missing[0])[:60]
            return f"{where}.{name}", f"{where}.{name} is required."
    if keyword == "additionalProperties":
        return where, f"{where} has a property the agent's input schema does not allow."
    expected = orjson.dumps(error.validator_value).decode() if keyword != "$ref" else ""
    detail = f" ({expected[:100]})" if expected and len(expected) <= 100 else ""
    return where, f"{where} does not match the agent's input schema: '{keyword}'{detail}."


def check_input(manifest: AgentManifest, value: dict[str, Any]) -> None:
    """422 `invalid_input` naming the first failing location when `value` fails the manifest's input schema."""
    error = best_match(_validator(manifest.input_schema).iter_errors(value))
    if error is not None:
        param, message = _describe(error)
        raise Unprocessable(message, code="invalid_input", param=param)


def lock_key(manifest: AgentManifest, value: dict[str, Any]) -> str | None:
    """The lock a run of this agent takes while unfinished: `order:<order_id>` for the Order graph."""
    if manifest.graph == "order" and isinstance(value.get("order_id"), str):
        return f"order:{value['order_id']}"
    return None
