"""Tenant-administration bodies and responses."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from aiaas.scopes import DEFAULT_SCOPES, ScopeName
from aiaas.storable import StorableStr
from aiaas.tenancy import ApiKeyRow, TenantRow

__all__ = ["TenantCreate", "TenantOut", "ApiKeyCreate", "ApiKeyOut", "ApiKeyCreated"]


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StorableStr = Field(min_length=1, max_length=200)
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    rate_limit_rpm: int | None = Field(None, ge=1, le=10_000_000)
    rate_limit_tpm: int | None = Field(None, ge=1, le=10_000_000_000)


# The answers are the stored rows (aiaas.tenancy), validated and documented as pydantic dataclasses.
@pydantic_dataclass(frozen=True)
class TenantOut(TenantRow):
    """A tenant."""


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StorableStr = Field(min_length=1, max_length=200)
    # Only known scope names (no '*'); without any, the least useful set: chat only.
    scopes: list[ScopeName] = Field(
        default_factory=lambda: list(DEFAULT_SCOPES),
        min_length=1,
        max_length=16,
        description='Scopes of the key (see the README\'s Scopes table); default `["chat"]`.',
    )
    rpm_limit: int | None = Field(None, ge=1, le=10_000_000)
    tpm_limit: int | None = Field(None, ge=1, le=10_000_000_000)


@pydantic_dataclass(frozen=True)
class ApiKeyOut(ApiKeyRow):
    """An API key, without its secret."""


@pydantic_dataclass(frozen=True)
class ApiKeyCreated(ApiKeyOut):
    """Returned once, at creation: the only time the secret is shown."""

    key: str
