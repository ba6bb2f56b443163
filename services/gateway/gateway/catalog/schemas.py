"""The catalog's data: a model alias and its ordered deployments (provider, model, credential, USD price)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

__all__ = ["Deployment", "ModelAlias", "Provider"]

Provider = Literal["openai", "anthropic", "openai_compatible"]


class Deployment(BaseModel):
    """One upstream model at one provider endpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    provider: Provider
    model: str = Field(min_length=1)
    base_url: str
    # Name of the credential in settings: "openai", "anthropic", "sim", or a key of GATEWAY_CREDENTIALS.
    credentials_ref: str = "sim"
    # Prices are US dollars per 1,000 tokens (billing's plan prices are cents: a different, separate unit).
    # The names before units were spelled out (`input_price_per_1k`) are still read, never written.
    input_usd_per_1k: Decimal = Field(
        Decimal("0"), validation_alias=AliasChoices("input_usd_per_1k", "input_price_per_1k")
    )
    output_usd_per_1k: Decimal = Field(
        Decimal("0"), validation_alias=AliasChoices("output_usd_per_1k", "output_price_per_1k")
    )
    timeout_s: float | None = Field(None, gt=0)
    # A stream's limit to its first content (gateway default: GATEWAY_STREAM_FIRST_BYTE_TIMEOUT_S).
    first_byte_timeout_s: float | None = Field(None, gt=0)

    @field_validator("input_usd_per_1k", "output_usd_per_1k", mode="before")
    @classmethod
    def _no_float_prices(cls, value: object) -> object:
        # YAML floats would carry binary rounding into money: go through their text.
        return str(value) if isinstance(value, float) else value

    def cost_usd(self, tokens_in: int, tokens_out: int) -> Decimal:
        """US dollars for these tokens at this deployment's prices (unrounded)."""
        return (self.input_usd_per_1k * tokens_in + self.output_usd_per_1k * tokens_out) / 1000


class ModelAlias(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    deployments: tuple[Deployment, ...] = Field(min_length=1)
    owned_by: str = "aiaas"
    # From the model registry: "deprecated" is refused (410, naming `replacement`) and left out of /v1/models;
    # "deleted" removes the alias (and a base one of its name) from the catalog.
    status: Literal["active", "deprecated", "deleted"] = "active"
    replacement: str | None = None
