"""Deciding when the simulated model calls a tool, and inventing its arguments."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from provider_sim.textgen import count_tokens, request_seed, split_tokens, words

__all__ = ["ToolCall", "ToolChoice", "ToolSpec", "arguments_for", "plan_tool_call", "tool_call_id"]

ToolMode = Literal["none", "auto", "required", "named"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A callable function: its name and JSON-schema for the arguments."""

    name: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """Provider-neutral tool choice: none, auto, required (any tool) or one named tool."""

    mode: ToolMode = "auto"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A decided tool call with its arguments as compact JSON."""

    id_suffix: str
    name: str
    arguments: dict[str, Any]
    arguments_json: str

    @property
    def completion_tokens(self) -> int:
        """Tokens charged for the call: the function name plus its JSON arguments."""
        return count_tokens(self.name) + count_tokens(self.arguments_json)

    def argument_fragments(self) -> list[str]:
        """The JSON arguments split into one-token fragments, as streamed."""
        return split_tokens(self.arguments_json)


def plan_tool_call(tools: list[ToolSpec], choice: ToolChoice, last_user_text: str | None, seed: int) -> ToolCall | None:
    """The tool call the model makes, if any.

    `last_user_text` is None when the conversation ends with a tool result: in
    auto mode the model then answers in text, so agent loops terminate.
    """
    if not tools or choice.mode == "none":
        return None
    mentioned = next((t for t in tools if last_user_text and t.name in last_user_text), None)
    if choice.mode == "named":
        tool = next((t for t in tools if t.name == choice.name), None)
    elif choice.mode == "required":
        tool = mentioned or tools[seed % len(tools)]
    else:
        tool = mentioned
    if tool is None:
        return None
    arguments = arguments_for(tool.schema, request_seed(seed, tool.name))
    return ToolCall(
        id_suffix=tool_call_id(seed, tool.name),
        name=tool.name,
        arguments=arguments,
        arguments_json=orjson.dumps(arguments).decode(),
    )


def tool_call_id(seed: int, name: str) -> str:
    """Deterministic 24-character id suffix for a call of `name` in the request seeded by `seed`."""
    return hashlib.blake2b(f"{seed}:{name}".encode(), digest_size=12).hexdigest()


def arguments_for(schema: dict[str, Any], seed: int) -> dict[str, Any]:
    """An object filling the schema's required properties with deterministic values."""
    value = _fake_value(schema if schema.get("type") else {**schema, "type": "object"}, "args", seed, 0)
    return value if isinstance(value, dict) else {}


def _fake_value(schema: Any, name: str, seed: int, depth: int) -> Any:
    """A deterministic value for one JSON-schema node."""
    if not isinstance(schema, dict):
        return _fake_string(schema, name, seed)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][request_seed(seed, name) % len(schema["enum"])]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            return _fake_value(options[0], name, seed, depth)
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    rng = random.Random(request_seed(seed, name))
    if kind == "object":
        if depth > 5:
            return {}
        properties = schema.get("properties") or {}
        required = [r for r in schema.get("required") or [] if isinstance(r, str)]
        return {key: _fake_value(properties.get(key, {}), key, seed, depth + 1) for key in required}
    if kind == "array":
        size = max(1, int(schema.get("minItems", 1)))
        item_schema = schema.get("items", {})
        return [_fake_value(item_schema, f"{name}[{i}]", seed, depth + 1) for i in range(size)]
    if kind == "integer":
        low, high = int(schema.get("minimum", 1)), int(schema.get("maximum", 100))
        return rng.randint(min(low, high), max(low, high))
    if kind == "number":
        lower, upper = float(schema.get("minimum", 0)), float(schema.get("maximum", 100))
        return round(rng.uniform(min(lower, upper), max(lower, upper)), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _fake_string(schema, name, seed)


def _fake_string(schema: Any, name: str, seed: int) -> str:
    """A deterministic string, honouring a few common `format`s."""
    fmt = schema.get("format") if isinstance(schema, dict) else None
    value_seed = request_seed(seed, name)
    if fmt == "date":
        return f"2024-{value_seed % 12 + 1:02d}-{value_seed % 28 + 1:02d}"
    if fmt == "date-time":
        return f"2024-{value_seed % 12 + 1:02d}-{value_seed % 28 + 1:02d}T12:00:00Z"
    if fmt == "email":
        return f"{words(value_seed, 1)[0]}@example.com"
    if fmt == "uri":
        return f"https://example.com/{words(value_seed, 1)[0]}"
    return " ".join(words(value_seed, 2))
