"""Request bodies of the flag admin API (values are checked against the flag's type in `service`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue

from aiaas.storable import StorableStr, storable_json

__all__ = ["VariantIn", "FlagCreate", "FlagUpdate", "OverrideIn", "ReasonIn", "FLAG_KEY_PATTERN", "PLAN_PATTERN"]

FLAG_KEY_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
PLAN_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"
_INT64 = 2**63 - 1

# Text and JSON Postgres can store (no U+0000, no lone surrogate): they go to text and jsonb columns.
Reason = Annotated[StorableStr, Field(min_length=1, max_length=1000)]
Description = Annotated[StorableStr, Field(max_length=1000)]
Value = Annotated[JsonValue, AfterValidator(storable_json)]
Bound = Annotated[int, Field(ge=-_INT64, le=_INT64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariantIn(_Body):
    value: Annotated[StorableStr, Field(min_length=1, max_length=100)]
    weight: Annotated[int, Field(ge=0, le=10_000)] | None = None


VariantsIn = Annotated[
    list[VariantIn | Annotated[StorableStr, Field(min_length=1, max_length=100)]], Field(max_length=100)
]


class FlagCreate(_Body):
    key: Annotated[str, Field(pattern=FLAG_KEY_PATTERN)]
    type: Literal["boolean", "percentage", "variant", "integer", "string_list"]
    default: Value
    variants: VariantsIn | None = None
    min_value: Bound | None = None
    max_value: Bound | None = None
    description: Description = ""
    reason: Reason


class FlagUpdate(_Body):
    """Only the fields sent change (an explicit null removes a bound); the type never changes."""

    default: Value = None
    variants: VariantsIn | None = None
    min_value: Bound | None = None
    max_value: Bound | None = None
    description: Description | None = None
    reason: Reason


class OverrideIn(_Body):
    value: Value
    reason: Reason


class ReasonIn(_Body):
    reason: Reason
