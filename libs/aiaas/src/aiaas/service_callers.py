"""Who may call a service for a tenant: the tenant's own key, or a platform service's credential naming the tenant.

A service credential is a named platform-admin key (`sk-admin-...`, `python -m data_plane admin-keys create
NAME`) whose name the called service lists (e.g. `ROUTER_SERVICE_KEY_NAMES`, `GATEWAY_SERVICE_KEY_NAMES`); it
acts for the tenant named in the `x-aiaas-tenant-id` header, which must exist and be active. Any other admin
key is refused (403 `not_a_service_key`): holding the platform-admin role does not make a key a service's. A
tenant key ignores the header: it acts for its own tenant, with the scope the route needs.

The service credential acts with the tenant's limits and no key limits of its own: its `Principal` carries the
admin key's id as `key_id` and the one scope the service grants it.

    is_service_token(authorization)     the cheap test a hot path branches on (the `sk-admin-` prefix)
    ServiceKeys                         which admin keys are a service's credential, and the tenant one names
    TenantKnown                         tenants this process has seen, with status and limits (cached)
    resolve_caller(...)                 either kind of caller -> `Caller` (tenant, how, its `Principal`)
    accept_service_keys(app, ...)       the same for a FastAPI app's `require_scope` routes (listed ones only)
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.security import SecurityScopes
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import repository
from aiaas.auth import ADMIN_KEY_PREFIX, AdminKeyResolver, AdminPrincipal, ApiKeyResolver, Principal, current_principal
from aiaas.db import tenant_session
from aiaas.errors import BadRequest, Forbidden
from aiaas.key_cache import KeyCache

__all__ = [
    "TENANT_HEADER",
    "Caller",
    "ServiceKeys",
    "COST_HEADER",
    "RUN_ID_HEADER",
    "STEP_HEADER",
    "TenantKnown",
    "TenantStanding",
    "accept_service_keys",
    "is_service_token",
    "resolve_caller",
    "service_key_names",
]

TENANT_HEADER = "x-aiaas-tenant-id"
# An orchestrator run's model calls name the run and the step (the gateway carries both onto the usage event); the
# gateway answers a non-streamed call with its billed price (US dollars, a decimal string).
RUN_ID_HEADER = "x-aiaas-run-id"
STEP_HEADER = "x-aiaas-step"
COST_HEADER = "x-aiaas-cost-usd"


@dataclass(frozen=True)
class TenantStanding:
    """What a service credential needs to know of the tenant it acts for."""

    tenant_id: uuid.UUID
    active: bool
    rate_limit_rpm: int | None
    rate_limit_tpm: int | None


@dataclass(frozen=True)
class Caller:
    tenant_id: uuid.UUID
    via: Literal["tenant_key", "service_key"]
    # The tenant's key, or for a service key one acting for the tenant (the admin key's id, the service's scope).
    principal: Principal


def service_key_names(names: str) -> frozenset[str]:
    """A comma-separated setting (`GATEWAY_SERVICE_KEY_NAMES=orchestrator,other`) -> the set of names."""
    return frozenset(name.strip() for name in names.split(",") if name.strip())


def is_service_token(authorization: str | None) -> bool:
    """Whether the bearer token is a platform-admin key: the only test a tenant key's path pays for."""
    # The substring test first: ~30 ns on a tenant key's path (the exact parse below costs ten times that).
    if authorization is None or ADMIN_KEY_PREFIX not in authorization:
        return False
    _, _, token = authorization.partition(" ")
    return token.lstrip().startswith(ADMIN_KEY_PREFIX)


class TenantKnown:
    """Tenants this process has seen, with their status and limits, each read at most once per `ttl_s`.

    A tenant is never re-created under the same id, so existence may be cached long (the router's default);
    services that apply the tenant's limits pass their auth cache's TTL. Concurrent misses share one lookup.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_s: float = 300.0) -> None:
        self._sessions = sessions
        self._cache = KeyCache(self._lookup, ttl_s=ttl_s, max_entries=100_000)

    async def check(self, tenant_id: uuid.UUID) -> bool:
        """Whether the tenant exists (active or suspended)."""
        return await self.standing(tenant_id) is not None

    async def standing(self, tenant_id: uuid.UUID) -> TenantStanding | None:
        return await self._cache.get(str(tenant_id))

    async def _lookup(self, key: str) -> TenantStanding | None:
        tenant_id = uuid.UUID(key)
        async with tenant_session(self._sessions, tenant_id) as session:
            row = await repository.tenant_standing(session, tenant_id)
        if row is None:
            return None
        return TenantStanding(
            tenant_id=tenant_id,
            active=row.status == "active",
            rate_limit_rpm=row.rate_limit_rpm,
            rate_limit_tpm=row.rate_limit_tpm,
        )


@dataclass(frozen=True)
class ServiceKeys:
    """The platform-admin keys that are `service`'s credential (by name), and the tenant each call names."""

    admin_keys: AdminKeyResolver
    names: frozenset[str]
    # The called service, as the 403's text names it ("router", "gateway", "ingestion").
    service: str
    # The one scope a service credential holds here (it acts only on the routes that need it).
    scope: str

    async def act_for(
        self, authorization: str | None, tenant_header: str | None, tenants: TenantKnown
    ) -> tuple[AdminPrincipal, Principal]:
        """The admin key and the tenant principal it acts as: 401 bad key, 403 foreign key or suspended
        tenant, 400 a missing, malformed or unknown tenant id."""
        admin = await self.admin(authorization)
        return admin, await self.acting(admin, tenant_header, tenants)

    async def admin(self, authorization: str | None) -> AdminPrincipal:
        """The calling admin key if it is this service's credential: 401 a bad key, 403 a foreign one."""
        admin = await self.admin_keys.resolve(authorization)
        if admin.name not in self.names:
            raise Forbidden(
                f"This platform-admin key is not a {self.service} service credential.", code="not_a_service_key"
            )
        return admin

    async def acting(self, admin: AdminPrincipal, tenant_header: str | None, tenants: TenantKnown) -> Principal:
        """The principal `admin` acts as for the tenant in `tenant_header`: 400 missing, malformed or unknown,
        403 suspended."""
        if not tenant_header:
            raise BadRequest(f"The service key needs the `{TENANT_HEADER}` header.", code="missing_tenant_id")
        try:
            tenant_id = uuid.UUID(tenant_header)
        except ValueError:
            raise BadRequest(f"`{TENANT_HEADER}` must be a tenant id (UUID).", code="invalid_tenant_id") from None
        standing = await tenants.standing(tenant_id)
        if standing is None:
            raise BadRequest(f"No tenant has the id in `{TENANT_HEADER}`.", code="unknown_tenant")
        if not standing.active:
            raise Forbidden(f"The tenant in `{TENANT_HEADER}` is suspended.", code="tenant_suspended")
        return Principal(
            tenant_id=tenant_id,
            key_id=admin.key_id,
            scopes=(self.scope,),
            key_rpm=None,
            key_tpm=None,
            tenant_rpm=standing.rate_limit_rpm,
            tenant_tpm=standing.rate_limit_tpm,
        )


async def resolve_caller(
    *,
    authorization: str | None,
    tenant_header: str | None,
    resolver: ApiKeyResolver,
    service_keys: ServiceKeys,
    tenants: TenantKnown,
) -> Caller:
    """The tenant a call is for: 401 without a valid key, 403 without the scope or for a foreign admin key,
    400 for a service key without a known tenant."""
    if not is_service_token(authorization):
        principal = await resolver.resolve(authorization)
        principal.require(service_keys.scope)
        return Caller(tenant_id=principal.tenant_id, via="tenant_key", principal=principal)
    _, principal = await service_keys.act_for(authorization, tenant_header, tenants)
    return Caller(tenant_id=principal.tenant_id, via="service_key", principal=principal)


def accept_service_keys(
    app: FastAPI, service_keys: ServiceKeys, tenants: TenantKnown, routes: Collection[tuple[str, str]]
) -> None:
    """Let `service_keys` call `routes` ((method, path template) pairs) of `app` for the tenant they name.

    Wherever the app's routes ask for the caller (`require_scope`, `PrincipalDep`, and through it the tenant
    session), a tenant key resolves as before (`aiaas.auth.current_principal`); a platform-admin key gets the
    principal it acts as on the listed routes, 403 `service_key_not_allowed` on the others. Call it in the
    lifespan, once the resolvers exist.
    """
    allowed = frozenset(routes)

    async def principal(security_scopes: SecurityScopes, request: Request) -> Principal:
        authorization = request.headers.get("authorization")
        if not is_service_token(authorization):
            return await current_principal(security_scopes, request, None)
        admin = await service_keys.admin(authorization)
        route = request.scope.get("route")
        if (request.method, getattr(route, "path", None)) not in allowed:
            raise Forbidden(
                f"A {service_keys.service} service credential may not call this route.",
                code="service_key_not_allowed",
            )
        acting = await service_keys.acting(admin, request.headers.get(TENANT_HEADER), tenants)
        for scope in security_scopes.scopes:
            acting.require(scope)
        return acting

    # The documented seam: every `Security(current_principal, ...)` of the app's routes resolves through it.
    app.dependency_overrides[current_principal] = principal
