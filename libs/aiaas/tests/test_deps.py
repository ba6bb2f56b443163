"""aiaas.deps: the request-scoped tenant transaction commits on success, rolls back on error, and is RLS-bound."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import aiohttp
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from aiaas.auth import ApiKeyResolver, Principal, use_api_key_resolver
from aiaas.deps import PrincipalDep, TenantSessionDep, require_scope, service_state, set_service_state
from aiaas.errors import BadRequest
from aiaas.scopes import BILLING_MANAGE
from aiaas.service_app import service_app
from aiaas.settings import ServiceSettings
from aiaas_testing import free_port, serve_asgi


@dataclass
class _State:
    sessions: async_sessionmaker[AsyncSession]
    label: str


StateDep = Annotated[_State, Depends(service_state)]
ManageDep = Annotated[Principal, require_scope(BILLING_MANAGE)]
router = APIRouter()


@router.put("/endpoint")
async def put_endpoint(_: ManageDep, principal: PrincipalDep, session: TenantSessionDep, url: str, fail: bool = False):
    await session.execute(
        text(
            "insert into alert_endpoints (tenant_id, url, secret) values (:t, :u, 's') "
            "on conflict (tenant_id) do update set url = excluded.url"
        ),
        {"t": principal.tenant_id, "u": url},
    )
    if fail:
        raise BadRequest("refused after the write", code="refused")
    return {"ok": True}


@router.get("/endpoints")
async def list_endpoints(state: StateDep, _: ManageDep, session: TenantSessionDep):
    rows = (await session.execute(text("select tenant_id, url from alert_endpoints"))).all()
    return {"label": state.label, "rows": [[str(r.tenant_id), r.url] for r in rows]}


@pytest.fixture
async def base_url(runtime_engine: AsyncEngine, runtime_sessions: async_sessionmaker[AsyncSession]):
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        set_service_state(app, _State(sessions=runtime_sessions, label="deps-test"))
        use_api_key_resolver(app, ApiKeyResolver(runtime_engine, cache_ttl_s=0))
        yield

    app = service_app(ServiceSettings(), title="t", lifespan=lifespan, routers=[router], tracing=False)
    async with serve_asgi(app) as url:
        yield url


async def _admin_rows(admin_sessions, tenant_id: uuid.UUID) -> list[str]:
    async with admin_sessions() as session:
        rows = await session.execute(text("select url from alert_endpoints where tenant_id = :t"), {"t": tenant_id})
        return [r.url for r in rows]


async def test_the_transaction_commits_before_the_answer_and_rolls_back_on_error(
    base_url, make_tenant, admin_sessions
) -> None:
    tenant = await make_tenant()
    async with aiohttp.ClientSession(headers=tenant.auth) as http:
        async with http.put(f"{base_url}/endpoint", params={"url": "https://a.example/x"}) as resp:
            assert resp.status == 200
        # Durable as soon as the 200 arrived: read through another role, another connection.
        assert await _admin_rows(admin_sessions, tenant.id) == ["https://a.example/x"]

        async with http.put(f"{base_url}/endpoint", params={"url": "https://b.example/y", "fail": "true"}) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "refused"
        assert await _admin_rows(admin_sessions, tenant.id) == ["https://a.example/x"]


async def test_each_tenant_sees_only_its_rows_and_the_route_scope_still_applies(base_url, make_tenant) -> None:
    a, b = await make_tenant(), await make_tenant()
    reader_without_scope = await make_tenant(scopes=["chat"])
    async with aiohttp.ClientSession() as http:
        for tenant, url in ((a, "https://a.example/"), (b, "https://b.example/")):
            async with http.put(f"{base_url}/endpoint", params={"url": url}, headers=tenant.auth) as resp:
                assert resp.status == 200
        async with http.get(f"{base_url}/endpoints", headers=a.auth) as resp:
            body = await resp.json()
        assert body == {"label": "deps-test", "rows": [[str(a.id), "https://a.example/"]]}
        async with http.get(f"{base_url}/endpoints", headers=reader_without_scope.auth) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"]["code"] == "insufficient_scope"
        async with http.get(f"{base_url}/endpoints") as resp:
            assert resp.status == 401


async def test_a_database_that_cannot_be_reached_answers_503_not_500(runtime_engine, make_tenant) -> None:
    tenant = await make_tenant()
    # Nothing listens there: every transaction fails to open, as while Postgres restarts.
    dead = create_async_engine(f"postgresql+asyncpg://app_runtime:x@127.0.0.1:{free_port()}/aiaas")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        set_service_state(app, _State(sessions=async_sessionmaker(dead), label="down"))
        use_api_key_resolver(app, ApiKeyResolver(runtime_engine, cache_ttl_s=0))
        yield

    app = service_app(ServiceSettings(), title="t", lifespan=lifespan, routers=[router], tracing=False)
    try:
        async with serve_asgi(app) as url, aiohttp.ClientSession(headers=tenant.auth) as http:
            async with http.get(f"{url}/endpoints") as resp:
                assert resp.status == 503
                assert resp.headers["Retry-After"] == "1"
                assert (await resp.json())["error"]["code"] == "database_unavailable"
    finally:
        await dead.dispose()
