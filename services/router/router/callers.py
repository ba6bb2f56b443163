"""Who may ask the router for a decision: a tenant's key with the `router` scope, or the gateway's service key.

The service credential is a named platform-admin key (`sk-admin-...`, `python -m data_plane admin-keys create
gateway`) whose name is listed in `ROUTER_SERVICE_KEY_NAMES`; it decides for the tenant named in the
`x-aiaas-tenant-id` header (which must exist). Any other admin key is refused (403): holding the platform-admin
role does not make a key the gateway's. A tenant key ignores the header: it decides for its own tenant.
The rules are the platform's (aiaas.service_callers); this module names the router's scope and service.
"""

from __future__ import annotations

from aiaas import service_callers
from aiaas.auth import AdminKeyResolver, ApiKeyResolver
from aiaas.scopes import ROUTER
from aiaas.service_callers import TENANT_HEADER, Caller, ServiceKeys, TenantKnown

__all__ = ["TENANT_HEADER", "Caller", "TenantKnown", "resolve_caller"]


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
    return await service_callers.resolve_caller(
        authorization=authorization,
        tenant_header=tenant_header,
        resolver=resolver,
        service_keys=ServiceKeys(admin_keys, service_keys, service="router", scope=ROUTER),
        tenants=tenants,
    )
