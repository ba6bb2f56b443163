"""The tenant's cache: its settings and size (GET /v1/cache), and invalidation (DELETE /v1/cache[/{id}])."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query

from aiaas.deps import PrincipalDep, TenantSessionDep, require_scope
from aiaas.errors import NotFound
from aiaas.scopes import CHAT
from aiaas.storable import StorableStr
from gateway.cache.schemas import CacheDeleted, CacheSummary
from gateway.state import StateDep

__all__ = ["router"]

# The cache belongs to the chat API: a key that may chat may see and clear its tenant's cache.
router = APIRouter(prefix="/v1/cache", tags=["cache"], dependencies=[require_scope(CHAT)])

ModelQuery = Annotated[
    StorableStr | None, Query(min_length=1, max_length=256, description="Only this model alias's entries")
]


@router.get("")
async def cache_summary(principal: PrincipalDep, session: TenantSessionDep, state: StateDep) -> CacheSummary:
    """The caller's cache settings (live flags) and how many live entries it holds."""
    tenant = str(principal.tenant_id)
    settings = state.cache.settings(tenant)
    return CacheSummary(
        enabled=settings.enabled and state.settings.cache_enabled,
        semantic=settings.semantic and state.cache.semantic_available,
        threshold=settings.threshold,
        ttl_s=settings.ttl_s,
        max_entries=settings.max_entries,
        aliases=list(settings.aliases),
        max_temperature=settings.max_temperature,
        version=settings.version,
        entries=await state.cache.count(session, tenant),
    )


@router.delete("")
async def clear_cache(
    principal: PrincipalDep, session: TenantSessionDep, state: StateDep, model: ModelQuery = None
) -> CacheDeleted:
    """Delete the caller's cached answers: all of them, or one model alias's (`?model=`)."""
    deleted = await state.cache.delete_all(session, str(principal.tenant_id), model)
    return CacheDeleted(deleted=deleted, model=model)


@router.delete("/{entry_id}")
async def delete_cache_entry(
    principal: PrincipalDep,
    session: TenantSessionDep,
    state: StateDep,
    entry_id: Annotated[uuid.UUID, Path(description="The entry's id (from x-cache-id)")],
) -> CacheDeleted:
    """Delete one cached answer; 404 when the caller's cache has no such entry."""
    if not await state.cache.delete_entry(session, str(principal.tenant_id), entry_id):
        raise NotFound("No cached answer with this id.", code="cache_entry_not_found", param="entry_id")
    return CacheDeleted(deleted=1, id=str(entry_id))
