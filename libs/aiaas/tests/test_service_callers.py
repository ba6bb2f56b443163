"""aiaas.service_callers against the real database: who may act for a tenant, and as which principal."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from aiaas.auth import AdminKeyResolver, ApiKeyResolver
from aiaas.db import admin_session
from aiaas.errors import PlatformError
from aiaas.scopes import CHAT, INGESTION
from aiaas.service_callers import (
    Caller,
    ServiceKeys,
    TenantKnown,
    is_service_token,
    resolve_caller,
    service_key_names,
)


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (None, False),
        ("", False),
        ("Bearer sk-aiaas-abcdef", False),
        ("Bearer sk-aiaas-xxsk-admin-yy", False),  # the prefix inside a tenant key's random part
        ("Bearer sk-admin-abcdef", True),
        ("bearer    sk-admin-abcdef", True),
        ("sk-admin-abcdef", False),  # no scheme: the tenant resolver answers 401
    ],
)
def test_is_service_token(authorization: str | None, expected: bool) -> None:
    assert is_service_token(authorization) is expected


def test_service_key_names() -> None:
    assert service_key_names(" orchestrator, other ,,") == frozenset({"orchestrator", "other"})
    assert service_key_names("") == frozenset()


async def test_the_service_key_acts_as_the_tenant_with_its_limits(
    runtime_engine, runtime_sessions, admin_sessions, make_tenant, make_admin_key
) -> None:
    tenant = await make_tenant(rate_limit_rpm=7, rate_limit_tpm=700, scopes=[CHAT])
    service, other = await make_admin_key(), await make_admin_key()
    keys = ServiceKeys(AdminKeyResolver(runtime_engine), frozenset({service.name}), service="test", scope=INGESTION)
    tenants = TenantKnown(runtime_sessions, ttl_s=0.2)
    resolver = ApiKeyResolver(runtime_engine)

    async def caller(authorization: str, tenant_header: str | None = None) -> Caller:
        return await resolve_caller(
            authorization=authorization,
            tenant_header=tenant_header,
            resolver=resolver,
            service_keys=keys,
            tenants=tenants,
        )

    acting = await caller(service.auth["Authorization"], str(tenant.id))
    assert (acting.tenant_id, acting.via) == (tenant.id, "service_key")
    p = acting.principal
    assert (p.key_id, p.scopes, p.key_rpm, p.key_tpm, p.tenant_rpm, p.tenant_tpm) == (
        service.key_id,
        (INGESTION,),
        None,
        None,
        7,
        700,
    )
    # A tenant key needs the service's scope and ignores the header.
    with pytest.raises(PlatformError) as refused:
        await caller(tenant.auth["Authorization"], str(uuid.uuid4()))
    assert (refused.value.status, refused.value.code) == (403, "insufficient_scope")

    refusals = [
        (other.auth["Authorization"], str(tenant.id), 403, "not_a_service_key"),
        (service.auth["Authorization"], None, 400, "missing_tenant_id"),
        (service.auth["Authorization"], "t-1", 400, "invalid_tenant_id"),
        (service.auth["Authorization"], str(uuid.uuid4()), 400, "unknown_tenant"),
    ]
    for authorization, header, status, code in refusals:
        with pytest.raises(PlatformError) as refused:
            await caller(authorization, header)
        assert (refused.value.status, refused.value.code) == (status, code)

    # A suspension counts once the tenant's cached standing expires.
    async with admin_session(admin_sessions) as session:
        await session.execute(text("update tenants set status = 'suspended' where id = :id"), {"id": tenant.id})
    await asyncio.sleep(0.3)
    with pytest.raises(PlatformError) as refused:
        await caller(service.auth["Authorization"], str(tenant.id))
    assert (refused.value.status, refused.value.code) == (403, "tenant_suspended")
    assert await tenants.check(tenant.id) is True  # suspended, still a tenant
