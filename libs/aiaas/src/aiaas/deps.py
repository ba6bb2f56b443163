"""The dependencies every service's endpoints use: its state, the caller, and the caller's transaction.

A service's lifespan hands its state over with `set_service_state(app, state)`; the service's `state.py`
then names the typed alias once: `StateDep = Annotated[BillingState, Depends(service_state)]`.

    PrincipalDep       the calling tenant's key (401 without a valid one); any scope
    require_scope(S)   the same, 403 `insufficient_scope` unless the key holds S (shown in OpenAPI)
    TenantSessionDep   one transaction bound to the caller's tenant (RLS): commits when the handler
                       returns, rolls back when it raises, before the response is sent
    AdminSessionDep    one cross-tenant transaction on the service's platform_admin sessions
    AdminDep / AdminPrincipalDep   the platform admin (aiaas.auth)

Handlers and services never commit: the session dependency does, so a 2xx means the writes are durable.
A database that cannot be reached (down, restarting, connection lost) answers 503 with Retry-After, not 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Protocol

from fastapi import Depends, FastAPI, Security
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from aiaas.auth import AdminDep, AdminPrincipalDep, Principal, current_principal, require_scope
from aiaas.db import admin_session, tenant_session
from aiaas.errors import ServiceUnavailable

__all__ = [
    "set_service_state",
    "service_state",
    "PrincipalDep",
    "require_scope",
    "TenantSessionDep",
    "AdminSessionDep",
    "AdminDep",
    "AdminPrincipalDep",
    "HasTenantSessions",
    "HasAdminSessions",
]

_STATE_ATTR = "service"


def set_service_state(app: FastAPI, state: object) -> None:
    """Make `state` (born in the lifespan) what `service_state` returns for `app`'s requests."""
    setattr(app.state, _STATE_ATTR, state)


def service_state(conn: HTTPConnection) -> object:
    """The state the app's lifespan set; a service types it in its `StateDep` alias."""
    state: object | None = getattr(conn.app.state, _STATE_ATTR, None)
    if state is None:
        raise RuntimeError("no service state: the app's lifespan must call aiaas.deps.set_service_state")
    return state


class HasTenantSessions(Protocol):
    """A service state with sessions of the RLS-bound runtime role."""

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...


class HasAdminSessions(Protocol):
    """A service state with sessions of the cross-tenant platform_admin role."""

    @property
    def admin_sessions(self) -> async_sessionmaker[AsyncSession]: ...


PrincipalDep = Annotated[Principal, Security(current_principal)]


def _state_with(conn: HTTPConnection, attribute: str) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] | None = getattr(service_state(conn), attribute, None)
    if sessions is None:
        raise RuntimeError(f"the service state has no `{attribute}`: this app has no such database role")
    return sessions


def _database_down(exc: BaseException, *, opening: bool) -> bool:
    """A failure of the connection (refused, lost, server restarting), not of the statement.

    A bare OSError counts only while the transaction opens (asyncpg's refused connect is not wrapped):
    later it may come from anything else the handler does.
    """
    if isinstance(exc, (OperationalError, InterfaceError)) or (opening and isinstance(exc, OSError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


@asynccontextmanager
async def _reachable(transaction: AbstractAsyncContextManager[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """`transaction`, with a database that cannot be reached turned into a 503 (Retry-After: 1)."""
    opened = False
    try:
        async with transaction as session:
            opened = True
            yield session
    except Exception as exc:
        if _database_down(exc, opening=not opened):
            raise ServiceUnavailable(
                "The database is unavailable right now; retry.", code="database_unavailable", retry_after=1
            ) from exc
        raise


async def _tenant_transaction(conn: HTTPConnection, principal: PrincipalDep) -> AsyncIterator[AsyncSession]:
    async with _reachable(tenant_session(_state_with(conn, "sessions"), principal.tenant_id)) as session:
        yield session


async def _admin_transaction(conn: HTTPConnection) -> AsyncIterator[AsyncSession]:
    async with _reachable(admin_session(_state_with(conn, "admin_sessions"))) as session:
        yield session


# scope="function": the transaction ends (commit or rollback) before the response leaves, not after it.
TenantSessionDep = Annotated[AsyncSession, Depends(_tenant_transaction, scope="function")]
# Only on routes behind AdminDep: the dependency itself does not check who calls.
AdminSessionDep = Annotated[AsyncSession, Depends(_admin_transaction, scope="function")]
