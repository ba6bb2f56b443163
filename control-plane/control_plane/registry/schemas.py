"""Bodies of the registries: a model alias's deployments, an agent's or tool's input/output JSON Schemas."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from jsonschema import SchemaError
from jsonschema.validators import validator_for
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aiaas.money import refuse_renamed
from aiaas.storable import StorableStr, storable_json
from control_plane.registry.manifests import AgentManifestIn, ToolManifest

__all__ = [
    "NAME_PATTERN",
    "AgentEntryIn",
    "Deployment",
    "DeprecationIn",
    "ModelConfig",
    "Provider",
    "SchemaEntryIn",
    "ToolEntryIn",
]

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
_Text = Annotated[StorableStr, Field(min_length=1, max_length=200)]
_Price = Annotated[Decimal, Field(ge=0, le=1_000_000, max_digits=20, decimal_places=10)]
_PRICE_UNIT = "US dollars per 1,000 tokens, decimal (billing's plan prices are separate, in cents)"
# Names these prices had before they said their unit; refused with a pointer rather than guessed.
_RENAMED_PRICES = {"input_price_per_1k": "input_usd_per_1k", "output_price_per_1k": "output_usd_per_1k"}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The providers a gateway speaks (gateway.catalog.schemas.Provider; a cross-service test keeps the two equal): a
# document naming another one would be refused by every gateway, so it is refused here, at the PUT.
Provider = Literal["openai", "anthropic", "openai_compatible"]


class Deployment(_Body):
    name: _Text
    provider: Provider
    model: _Text
    base_url: Annotated[str, Field(pattern=r"^https?://[^\s]{1,500}$")] | None = None
    # A reference to a secret (e.g. "vault:providers/openai"), never the secret itself.
    credentials_ref: _Text | None = None
    input_usd_per_1k: _Price = Field(description=f"Input tokens: {_PRICE_UNIT}")
    output_usd_per_1k: _Price = Field(description=f"Output tokens: {_PRICE_UNIT}")
    timeout_s: Annotated[float, Field(gt=0, le=600)] | None = None
    # A stream's limit to its first content chunk (the gateway's GATEWAY_STREAM_FIRST_BYTE_TIMEOUT_S when unset).
    first_byte_timeout_s: Annotated[float, Field(gt=0, le=600)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, value: object) -> object:
        return refuse_renamed(value, _RENAMED_PRICES, _PRICE_UNIT)

    @model_validator(mode="after")
    def _compatible_needs_a_url(self) -> Deployment:
        # openai/anthropic default to their public endpoints; a compatible server has none.
        if self.provider == "openai_compatible" and self.base_url is None:
            raise ValueError("an openai_compatible deployment needs a base_url")
        return self


class ModelConfig(_Body):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    deployments: Annotated[list[Deployment], Field(min_length=1, max_length=50)]

    @field_validator("deployments")
    @classmethod
    def _unique_names(cls, deployments: list[Deployment]) -> list[Deployment]:
        if len({d.name for d in deployments}) != len(deployments):
            raise ValueError("deployment names must be unique")
        return deployments


class DeprecationIn(_Body):
    """Deprecating an alias: requests for it are refused, naming `replacement` when given."""

    replacement: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None


def _json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    storable_json(schema)  # a jsonb column: no U+0000 in any key or string
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"not a valid JSON Schema: {exc.message[:200]}") from None
    except (TypeError, LookupError, RecursionError):
        # e.g. a "$schema" that is not a string: jsonschema fails before it can say why.
        raise ValueError("not a valid JSON Schema") from None
    return schema


class SchemaEntryIn(_Body):
    description: Annotated[StorableStr, Field(max_length=1000)] = ""
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]

    @field_validator("input_schema", "output_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        return _json_schema(schema)


class AgentEntryIn(SchemaEntryIn):
    """An agent version; with a `manifest` the orchestrator runs it as that (else as its built-in agent of the name)."""

    manifest: AgentManifestIn | None = None


class ToolEntryIn(SchemaEntryIn):
    """A tool version; with a `manifest`, how the tool adapter calls it."""

    manifest: ToolManifest | None = None
