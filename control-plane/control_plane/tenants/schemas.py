"""Tenant-administration bodies and responses."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from aiaas.scopes import DEFAULT_SCOPES, ScopeName
from aiaas.storable import StorableStr

__all__ = ["TenantCreate", "TenantOut", "ApiKeyCreate", "ApiKeyOut", "ApiKeyCreated"]


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StorableStr = Field(min_length=1, max_length=200)
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    rate_limit_rpm: int | None = Field(None, ge=1, le=10_000_000)
    rate_limit_tpm: int | None = Field(None, ge=1, le=10_000_000_000)


class TenantOut(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    status: str
    rate_limit_rpm: int | None
    rate_limit_tpm: int | None
    created_at: datetime


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


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    rpm_limit: int | None
    tpm_limit: int | None
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """Returned once, at creation: the only time the secret is shown."""

    key: str
