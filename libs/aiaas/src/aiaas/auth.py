"""API keys and platform-admin keys: generation, hashing, and resolving a bearer key to who calls.

Only a SHA-256 of the key is stored (keys are 192-bit random, so a slow hash
adds nothing). Resolution goes through the SECURITY DEFINER function
`auth_lookup_api_key`, the one sanctioned way for the RLS-bound runtime role to
find a key before it knows the tenant. Results are cached briefly in-process, and
concurrent misses for one key share a single lookup (no stampede when it expires).

Platform admins call with a named admin key (`sk-admin-...`, table `admin_keys`, resolved only
through `auth_lookup_admin_key`): `require_admin` is the one dependency of every /admin route and
gives the `AdminPrincipal` whose name is the audit actor.

Tenant routes declare the scope they need with `require_scope` (names in aiaas.scopes): the
dependency resolves the key with the app's resolver (`use_api_key_resolver`) and answers 403
`insufficient_scope` when the key lacks it; the scope shows in the route's OpenAPI `security`.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Security, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlalchemy.ext.asyncio import AsyncEngine

from aiaas import repository
from aiaas.errors import Forbidden, Unauthorized
from aiaas.key_cache import KeyCache
from aiaas.scopes import ALL_SCOPES

__all__ = [
    "Principal",
    "NewApiKey",
    "generate_api_key",
    "hash_api_key",
    "ApiKeyResolver",
    "KEY_PREFIX",
    "ADMIN_KEY_PREFIX",
    "AdminPrincipal",
    "AdminKeyResolver",
    "generate_admin_key",
    "use_admin_key_resolver",
    "require_admin",
    "AdminDep",
    "AdminPrincipalDep",
    "insufficient_scope",
    "require_scope",
    "current_principal",
    "use_api_key_resolver",
]

KEY_PREFIX = "sk-aiaas-"
_VISIBLE = len(KEY_PREFIX) + 8
# Distinct from KEY_PREFIX: an admin key is never taken for a tenant's, and scanners can tell them apart.
ADMIN_KEY_PREFIX = "sk-admin-"


@dataclass(frozen=True)
class NewApiKey:
    plaintext: str
    prefix: str
    key_hash: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant's API key with its scopes and limits."""

    tenant_id: uuid.UUID
    key_id: uuid.UUID
    scopes: tuple[str, ...]
    key_rpm: int | None
    key_tpm: int | None
    tenant_rpm: int | None
    tenant_tpm: int | None

    def has_scope(self, scope: str) -> bool:
        # No wildcard: a key holds exactly the scopes it lists (migration 0010 rewrote old '*' keys).
        return scope in self.scopes

    def require(self, scope: str) -> None:
        """403 `insufficient_scope` unless this key holds `scope`."""
        if scope not in self.scopes:
            raise insufficient_scope(scope)


def insufficient_scope(scope: str) -> Forbidden:
    """The one refusal for a key without the scope a route needs."""
    return Forbidden(f"This key lacks the '{scope}' scope.", code="insufficient_scope")


def hash_api_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


def generate_api_key() -> NewApiKey:
    plaintext = KEY_PREFIX + secrets.token_urlsafe(24)
    return NewApiKey(plaintext=plaintext, prefix=plaintext[:_VISIBLE], key_hash=hash_api_key(plaintext))


def generate_admin_key() -> NewApiKey:
    plaintext = ADMIN_KEY_PREFIX + secrets.token_urlsafe(24)
    return NewApiKey(
        plaintext=plaintext, prefix=plaintext[: len(ADMIN_KEY_PREFIX) + 8], key_hash=hash_api_key(plaintext)
    )


class ApiKeyResolver:
    """Resolves `Authorization: Bearer <key>` to a `Principal`, with a short in-process cache."""

    def __init__(self, engine: AsyncEngine, *, cache_ttl_s: float = 5.0, max_entries: int = 100_000) -> None:
        self._engine = engine
        self._cache = KeyCache(self._lookup, ttl_s=cache_ttl_s, max_entries=max_entries)

    def forget(self, key_hash: str | None = None) -> None:
        """Drop one cached key (after a revoke in this process) or all of them."""
        self._cache.forget(key_hash)

    async def resolve(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>'.", code="missing_api_key")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token.startswith(KEY_PREFIX) or len(token) > 200:
            raise Unauthorized("Incorrect API key provided.", code="invalid_api_key")
        principal = await self._cache.get(hash_api_key(token))
        if principal is None:
            raise Unauthorized("Incorrect API key provided.", code="invalid_api_key")
        return principal

    async def _lookup(self, key_hash: str) -> Principal | None:
        async with self._engine.connect() as conn:
            row = await repository.lookup_api_key(conn, key_hash)
        if row is None or not row.active:
            return None
        return Principal(
            tenant_id=row.tenant_id,
            key_id=row.key_id,
            scopes=tuple(row.scopes or ()),
            key_rpm=row.key_rpm,
            key_tpm=row.key_tpm,
            tenant_rpm=row.tenant_rpm,
            tenant_tpm=row.tenant_tpm,
        )


_RESOLVER_ATTR = "api_key_resolver"
# Documents the bearer scheme (and each route's scope) in OpenAPI; the resolver does the checking.
_bearer = HTTPBearer(auto_error=False, description="A tenant API key: `Authorization: Bearer sk-aiaas-...`.")


def use_api_key_resolver(app: FastAPI, resolver: ApiKeyResolver) -> None:
    """Make `resolver` the one `require_scope` uses for `app`'s routes (call it in the lifespan)."""
    setattr(app.state, _RESOLVER_ATTR, resolver)


async def current_principal(
    security_scopes: SecurityScopes,
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The calling tenant's key, checked against the scopes the route declares (`require_scope`)."""
    resolver: ApiKeyResolver | None = getattr(request.app.state, _RESOLVER_ATTR, None)
    if resolver is None:
        raise RuntimeError("no API-key resolver: the app's lifespan must call use_api_key_resolver")
    principal = await resolver.resolve(request.headers.get("authorization"))
    for scope in security_scopes.scopes:
        principal.require(scope)
    return principal


def require_scope(scope: str) -> params.Security:
    """Dependency: the calling tenant's `Principal`, 401 without a valid key, 403 without `scope`.

    Use as `Annotated[Principal, require_scope(BILLING_READ)]`; the scope appears in the route's
    OpenAPI `security` requirement (`{"HTTPBearer": [scope]}`).
    """
    if scope not in ALL_SCOPES:
        raise ValueError(f"unknown scope {scope!r}; known: {', '.join(ALL_SCOPES)}")
    dependency: params.Security = Security(current_principal, scopes=[scope])
    return dependency


@dataclass(frozen=True)
class AdminPrincipal:
    """A platform admin: the named admin key that called (its name is the audit actor)."""

    key_id: uuid.UUID
    name: str


class AdminKeyResolver:
    """Resolves `Authorization: Bearer sk-admin-...` to an `AdminPrincipal`: a revoke made elsewhere
    counts within `cache_ttl_s`, one made in this process (`revoked`) at once."""

    def __init__(self, engine: AsyncEngine, *, cache_ttl_s: float = 5.0) -> None:
        self._engine = engine
        self._cache = KeyCache(self._lookup, ttl_s=cache_ttl_s, max_entries=10_000)
        self._revoked: set[uuid.UUID] = set()

    def revoked(self, key_id: uuid.UUID) -> None:
        """Refuse `key_id` from now on (also when a lookup racing the revoke cached it as active)."""
        self._revoked.add(key_id)

    async def resolve(self, authorization: str | None) -> AdminPrincipal:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        admin: AdminPrincipal | None = None
        if scheme.lower() == "bearer" and token.startswith(ADMIN_KEY_PREFIX) and len(token) <= 200:
            admin = await self._cache.get(hash_api_key(token))
        if admin is None or admin.key_id in self._revoked:
            raise Unauthorized(
                "A platform-admin key is required: 'Authorization: Bearer sk-admin-...' "
                "(`python -m data_plane admin-keys create NAME` makes one).",
                code="invalid_admin_key",
            )
        return admin

    async def _lookup(self, key_hash: str) -> AdminPrincipal | None:
        async with self._engine.connect() as conn:
            row = await repository.lookup_active_admin_key(conn, key_hash)
        if row is None or not row.active:
            return None
        return AdminPrincipal(key_id=row.key_id, name=row.name)


_ADMIN_RESOLVER_ATTR = "admin_key_resolver"
# Documents the admin bearer scheme in OpenAPI (apart from tenant keys); the resolver does the checking.
_admin_bearer = HTTPBearer(
    auto_error=False, scheme_name="AdminKey", description="A platform-admin key: `Authorization: Bearer sk-admin-...`."
)


def use_admin_key_resolver(app: FastAPI, resolver: AdminKeyResolver) -> None:
    """Make `resolver` the one `require_admin` uses for `app`'s routes (call it in the lifespan)."""
    setattr(app.state, _ADMIN_RESOLVER_ATTR, resolver)


async def require_admin(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin_bearer)]
) -> AdminPrincipal:
    """The calling platform admin; 401 `invalid_admin_key` for a missing, unknown or revoked key."""
    resolver: AdminKeyResolver | None = getattr(request.app.state, _ADMIN_RESOLVER_ATTR, None)
    if resolver is None:
        raise RuntimeError("no admin-key resolver: the app's lifespan must call use_admin_key_resolver")
    return await resolver.resolve(request.headers.get("authorization"))


# Router-level (`dependencies=[AdminDep]`) and in a handler that records who acted (`admin: AdminPrincipalDep`).
AdminDep = Depends(require_admin)
AdminPrincipalDep = Annotated[AdminPrincipal, Depends(require_admin)]
