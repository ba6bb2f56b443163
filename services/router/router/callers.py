"""Who may ask the router for a decision: a tenant's key with the `router` scope, or the gateway's service key.

The service credential is a named platform-admin key (`sk-admin-...`, `python -m data_plane admin-keys create
gateway`) whose name is listed in `ROUTER_SERVICE_KEY_NAMES`; it decides for the tenant named in the
`x-aiaas-tenant-id` header (which must exist). Any other admin key is refused (403): holding the platform-admin
role does not make a key the gateway's. A tenant key ignores the header: it decides for its own tenant.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import repository
from aiaas.auth import ADMIN_KEY_PREFIX, AdminKeyResolver, ApiKeyResolver
from aiaas.db import tenant_session
from aiaas.errors import BadRequest, Forbidden
from aiaas.scopes import ROUTER

__all__ = ["TENANT_HEADER", "Caller", "TenantKnown", "resolve_caller"]

TENANT_HEADER = "x-aiaas-tenant-id"


@dataclass(frozen=True)
class Caller:
    tenant_id: uuid.UUID
    via: Literal["tenant_key", "service_key"]


class TenantKnown:
    """Tenants this process has seen exist (a tenant is never re-created under the same id), checked once."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_s: float = 300.0) -> None:
        self._sessions = sessions
        self._ttl_s = ttl_s
        self._seen: dict[uuid.UUID, float] = {}

    async def check(self, tenant_id: uuid.UUID) -> bool:
        now = time.monotonic()
        if self._seen.get(tenant_id, 0.0) > now:
            return True
        async with tenant_session(self._sessions, tenant_id) as session:
            exists = await repository.tenant_exists(session, tenant_id)
        if exists:
            if len(self._seen) > 100_000:
                self._seen.clear()
            self._seen[tenant_id] = now + self._ttl_s
        return exists


async def resolve_caller(
    *,
    authorization: str | None,
    tenant_header: str | None,
    resolver: ApiKeyResolver,
    admin_keys: AdminKeyResolver,
    service_keys: frozenset[str],
    tenants: TenantKnown,
) -> Caller:
    """The tenant a decision is for: 401 without a valid key, 403 without the scope or for a foreign admin key."""
    _, _, token = (authorization or "").partition(" ")
    if not token.strip().startswith(ADMIN_KEY_PREFIX):
        principal = await resolver.resolve(authorization)
        principal.require(ROUTER)
        return Caller(tenant_id=principal.tenant_id, via="tenant_key")
    admin = await admin_keys.resolve(authorization)
    if admin.name not in service_keys:
        raise Forbidden("This platform-admin key is not a router service credential.", code="not_a_service_key")
    if not tenant_header:
        raise BadRequest(f"The service key needs the `{TENANT_HEADER}` header.", code="missing_tenant_id")
    try:
        tenant_id = uuid.UUID(tenant_header)
    except ValueError:
        raise BadRequest(f"`{TENANT_HEADER}` must be a tenant id (UUID).", code="invalid_tenant_id") from None
    if not await tenants.check(tenant_id):
        raise BadRequest(f"No tenant has the id in `{TENANT_HEADER}`.", code="unknown_tenant")
    return Caller(tenant_id=tenant_id, via="service_key")
