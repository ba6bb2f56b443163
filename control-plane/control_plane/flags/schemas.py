"""Request bodies of the flag admin API (values are checked against the flag's type in `service`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

__all__ = ["VariantIn", "FlagCreate", "FlagUpdate", "OverrideIn", "ReasonIn", "FLAG_KEY_PATTERN", "PLAN_PATTERN"]

FLAG_KEY_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
PLAN_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"
_INT64 = 2**63 - 1

Reason = Annotated[str, Field(min_length=1, max_length=1000)]
Bound = Annotated[int, Field(ge=-_INT64, le=_INT64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariantIn(_Body):
    value: Annotated[str, Field(min_length=1, max_length=100)]
    weight: Annotated[int, Field(ge=0, le=10_000)] | None = None


VariantsIn = Annotated[list[VariantIn | Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=100)]


class FlagCreate(_Body):
    key: Annotated[str, Field(pattern=FLAG_KEY_PATTERN)]
    type: Literal["boolean", "percentage", "variant", "integer", "string_list"]
    default: JsonValue
    variants: VariantsIn | None = None
    min_value: Bound | None = None
    max_value: Bound | None = None
    description: Annotated[str, Field(max_length=1000)] = ""
    reason: Reason


class FlagUpdate(_Body):
    """Only the fields sent change (an explicit null removes a bound); the type never changes."""

    default: JsonValue = None
    variants: VariantsIn | None = None
    min_value: Bound | None = None
    max_value: Bound | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None
    reason: Reason


class OverrideIn(_Body):
    value: JsonValue
    reason: Reason


class ReasonIn(_Body):
    reason: Reason
