"""Scope names, key creation with scopes (real Postgres), and what `require_scope` declares in OpenAPI."""

from __future__ import annotations

import uuid
from typing import Annotated

import pytest
from fastapi import FastAPI

from aiaas.auth import Principal, require_scope
from aiaas.db import admin_session
from aiaas.errors import Forbidden, Unprocessable
from aiaas.scopes import (
    ALL_SCOPES,
    ANALYTICS_READ,
    BILLING_MANAGE,
    BILLING_READ,
    CHAT,
    INGESTION,
    ORCHESTRATOR,
    REALTIME,
    ROUTER,
    check_scopes,
)
from aiaas.tenancy import create_api_key


def _principal(*scopes: str) -> Principal:
    return Principal(uuid.uuid4(), uuid.uuid4(), scopes, None, None, None, None)


def test_the_known_scopes() -> None:
    assert ALL_SCOPES == (
        "chat",
        "billing:read",
        "billing:manage",
        "analytics:read",
        "realtime",
        "router",
        "ingestion",
        "orchestrator",
    )
    assert (CHAT, BILLING_READ, BILLING_MANAGE, ANALYTICS_READ, REALTIME, ROUTER, INGESTION, ORCHESTRATOR) == ALL_SCOPES


def test_a_wildcard_grants_nothing_and_require_names_the_missing_scope() -> None:
    wildcard = _principal("*")
    assert not any(wildcard.has_scope(scope) for scope in ALL_SCOPES)
    reader = _principal(CHAT, BILLING_READ)
    assert reader.has_scope(BILLING_READ) and not reader.has_scope(BILLING_MANAGE)
    reader.require(CHAT)
    with pytest.raises(Forbidden) as refused:
        reader.require(BILLING_MANAGE)
    error = refused.value.body()["error"]
    assert refused.value.status == 403
    assert error["code"] == "insufficient_scope"
    assert error["message"] == "This key lacks the 'billing:manage' scope."


def test_check_scopes_keeps_known_names_once_and_refuses_the_rest() -> None:
    assert check_scopes([REALTIME, CHAT, REALTIME]) == [REALTIME, CHAT]
    for bad in (["*"], [CHAT, "billing:write"], [], ["Chat"]):
        with pytest.raises(Unprocessable) as refused:
            check_scopes(bad)
        assert refused.value.status == 422 and refused.value.param == "scopes"


def test_require_scope_declares_its_scope_in_openapi_and_refuses_unknown_names() -> None:
    app = FastAPI()

    @app.get("/read")
    async def read(_: Annotated[Principal, require_scope(BILLING_READ)]) -> dict[str, str]:
        return {}

    operation = app.openapi()["paths"]["/read"]["get"]
    assert operation["security"] == [{"HTTPBearer": [BILLING_READ]}]
    with pytest.raises(ValueError, match="unknown scope"):
        require_scope("billing:*")


async def test_create_api_key_stores_checked_scopes_and_refuses_unknown_ones(make_tenant, admin_sessions) -> None:
    tenant = await make_tenant()
    async with admin_session(admin_sessions) as session:
        row, _ = await create_api_key(session, tenant_id=tenant.id, name="k", scopes=[BILLING_READ, BILLING_READ])
        assert row.scopes == [BILLING_READ]
        with pytest.raises(Unprocessable) as refused:
            await create_api_key(session, tenant_id=tenant.id, name="wild", scopes=["*"])
    assert refused.value.code == "unknown_scope"
