"""Async SQLAlchemy engines and the tenant-scoped session.

Every tenant transaction starts with `set_config('app.tenant_id', :tid, true)`:
the setting is transaction-local, so a pooled connection never carries one
tenant's id into another tenant's transaction. Cross-tenant work uses a
separate engine that connects as the named `platform_admin` role.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from aiaas import repository
from aiaas.resilience.retry import RetryPolicy, retry_async

__all__ = [
    "create_engine",
    "session_factory",
    "tenant_session",
    "admin_session",
    "TenantId",
    "is_transaction_conflict",
    "retry_tenant_transaction",
]

TenantId = uuid.UUID | str
T = TypeVar("T")


def create_engine(url: str, *, pool_size: int = 10, application_name: str = "aiaas") -> AsyncEngine:
    """Engine for one role; `pool_pre_ping` keeps it healthy across Postgres restarts."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"server_settings": {"application_name": application_name}},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _tenant_str(tenant_id: TenantId) -> str:
    # Validates the id so a malformed value can never reach the policy cast.
    return str(tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id)))


@asynccontextmanager
async def tenant_session(
    sessions: async_sessionmaker[AsyncSession], tenant_id: TenantId
) -> AsyncIterator[AsyncSession]:
    """One transaction bound to `tenant_id`: commits on success, rolls back on error."""
    tid = _tenant_str(tenant_id)
    async with sessions() as session, session.begin():
        await repository.bind_tenant(session, tid)
        yield session


@asynccontextmanager
async def admin_session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One cross-tenant transaction; `sessions` must come from the platform_admin engine."""
    async with sessions() as session, session.begin():
        yield session


# SQLSTATEs of a transaction Postgres aborted to resolve a conflict: running it again is the remedy it asks for.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


def is_transaction_conflict(exc: BaseException) -> bool:
    """Whether `exc` (SQLAlchemy's wrapper or the driver's error) is a deadlock or serialization failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) in _RETRYABLE_SQLSTATES:
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


async def retry_tenant_transaction(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: TenantId,
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    attempts: int = 3,
) -> T:
    """`work` in one `tenant_session` transaction, run again whole (a fresh transaction, jittered back-off) when
    Postgres aborts it with a deadlock or serialization failure, at most `attempts` times in all. `work` must be
    safe to repeat: everything it wrote was rolled back with the aborted transaction."""

    async def once() -> T:
        async with tenant_session(sessions, tenant_id) as session:
            return await work(session)

    return await retry_async(
        once,
        policy=RetryPolicy(max_attempts=attempts, base_delay=0.05, max_delay=0.5),
        is_retryable=is_transaction_conflict,
    )
