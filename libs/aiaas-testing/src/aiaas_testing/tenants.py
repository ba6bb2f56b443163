"""Tenant factories: a fresh tenant with one API key, made as platform_admin."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session
from aiaas.scopes import ALL_SCOPES
from aiaas.tenancy import TenantRow, create_api_key, create_tenant

__all__ = ["TenantWithKey", "create_tenant_with_key"]


@dataclass(frozen=True)
class TenantWithKey:
    tenant: TenantRow
    api_key: str
    key_id: uuid.UUID

    @property
    def id(self) -> uuid.UUID:
        return self.tenant.id

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def create_tenant_with_key(
    admin_sessions: async_sessionmaker[AsyncSession],
    *,
    rate_limit_rpm: int | None = None,
    rate_limit_tpm: int | None = None,
    key_rpm: int | None = None,
    key_tpm: int | None = None,
    scopes: Sequence[str] | None = None,
) -> TenantWithKey:
    """A fresh tenant (unique slug) with one key holding every tenant scope unless `scopes` narrows it."""
    slug = f"t-{uuid.uuid4().hex[:12]}"
    async with admin_session(admin_sessions) as session:
        tenant = await create_tenant(
            session,
            name=f"Tenant {slug}",
            slug=slug,
            rate_limit_rpm=rate_limit_rpm,
            rate_limit_tpm=rate_limit_tpm,
        )
        key_row, new = await create_api_key(
            session,
            tenant_id=tenant.id,
            name="test key",
            scopes=list(ALL_SCOPES if scopes is None else scopes),
            rpm_limit=key_rpm,
            tpm_limit=key_tpm,
        )
    return TenantWithKey(tenant=tenant, api_key=new.plaintext, key_id=key_row.id)
