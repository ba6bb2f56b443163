"""Field types every backend shares: text that can be stored and echoed, identifiers, money, addresses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "Address",
    "Amount",
    "Currency",
    "Email",
    "Ident",
    "Metadata",
    "Model",
    "Phone",
    "Sku",
    "Text",
    "now",
]


def _encodable(value: str) -> str:
    """Refuse a lone surrogate: it cannot be stored, echoed or hashed as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


def _lower(value: str) -> str:
    return value.lower()


Text = Annotated[str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_encodable)]
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$")]
Amount = Annotated[int, Field(ge=1, le=100_000_000, description="Minor units (cents).")]
Email = Annotated[
    str,
    StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,24}$", max_length=254),
    AfterValidator(_encodable),
    AfterValidator(_lower),
]
Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]
Metadata = Annotated[
    dict[Annotated[str, StringConstraints(min_length=1, max_length=40), AfterValidator(_encodable)], Text],
    Field(max_length=20),
]


class Model(BaseModel):
    """A request or object body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Address(Model):
    """A postal address; `country` is ISO 3166-1 alpha-2."""

    name: Text | None = None
    line1: Text
    city: Text
    postal_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 -]{2,12}$")]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


def now() -> datetime:
    """The current time, UTC, whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)
