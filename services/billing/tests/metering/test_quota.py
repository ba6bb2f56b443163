"""Billing publishes each tenant's plan code to the `tenant_plans` KV bucket, once per change (real NATS, Redis, DB).

The publish-path tests use a bucket of their own (unique name, deleted after); the API test reads the real
`tenant_plans` bucket the billing API writes, only for its own fresh tenant, whose key it removes after.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import KeyNotFoundError, NotFoundError
from sqlalchemy import text

from aiaas import clock
from aiaas.db import admin_session
from aiaas.flags import TENANT_PLANS_BUCKET, TenantPlanPublisher
from aiaas.quota import quota_key
from billing.metering.quota import QuotaPublisher, publish_tenant_quotas, read_tenant_quotas
from billing.plans.repository import load_catalogue
from billing.subscriptions.rules import add_month, month_start

from ..factories import grant_credit, subscribe


@pytest.fixture
async def plans_bucket(nats_client: NatsClient) -> AsyncIterator[str]:
    name = f"plans_test_{uuid.uuid4().hex[:10]}"
    yield name
    try:
        await nats_client.jetstream().delete_key_value(name)
    except NotFoundError:  # a test that never reached NATS created nothing
        return


@pytest.fixture
async def plans(infra_urls, plans_bucket: str) -> AsyncIterator[TenantPlanPublisher]:
    publisher = await TenantPlanPublisher(infra_urls.nats_url, bucket=plans_bucket).start()
    yield publisher
    await publisher.close()


async def _subscribed(admin_sessions, make_tenant, plan: str = "free") -> uuid.UUID:
    tenant = await make_tenant()
    start = month_start(clock.now())
    await subscribe(admin_sessions, tenant.id, plan, start, add_month(start))
    return tenant.id


async def _set_plan(admin_sessions, tenant_id: uuid.UUID, plan: str) -> None:
    """A plan change as Postgres sees it (no outbox event: nothing else in the suite should react)."""
    async with admin_session(admin_sessions) as session:
        await session.execute(
            text("update subscriptions set plan_code = :p where tenant_id = :t"), {"p": plan, "t": tenant_id}
        )


async def _read(admin_sessions, tenant_id: uuid.UUID):
    async with admin_session(admin_sessions) as session:
        return await read_tenant_quotas(session, await load_catalogue(session), tenant_id)


async def test_publish_writes_the_plan_once_per_change(
    admin_sessions, make_tenant, redis_client, nats_client, plans, plans_bucket
) -> None:
    tenant = await _subscribed(admin_sessions, make_tenant)
    kv = await nats_client.jetstream().key_value(plans_bucket)
    try:
        quotas = await _read(admin_sessions, tenant)
        assert quotas.plans == {tenant: "free"}
        assert await publish_tenant_quotas(redis_client, plans, quotas)
        first = await kv.get(str(tenant))
        assert first.value == b"free"
        assert await redis_client.hget(quota_key(tenant), "limit_name") is not None  # Redis as before

        # The timer sweep and every metering commit publish the same plan again: no KV write.
        for _ in range(5):
            assert await publish_tenant_quotas(redis_client, plans, await _read(admin_sessions, tenant))
        assert (await kv.get(str(tenant))).revision == first.revision

        # A plan change: one write, then none again.
        await _set_plan(admin_sessions, tenant, "pro")
        assert await publish_tenant_quotas(redis_client, plans, await _read(admin_sessions, tenant))
        changed = await kv.get(str(tenant))
        assert changed.value == b"pro" and changed.revision > first.revision
        for _ in range(3):
            assert await publish_tenant_quotas(redis_client, plans, await _read(admin_sessions, tenant))
        assert (await kv.get(str(tenant))).revision == changed.revision

        # A restarted billing process (a new publisher) loads the bucket and does not rewrite it either.
        again = await TenantPlanPublisher(nats_client, bucket=plans_bucket).start()  # on a connection it borrows
        try:
            assert await publish_tenant_quotas(redis_client, again, await _read(admin_sessions, tenant))
        finally:
            await again.close()
        assert (await kv.get(str(tenant))).revision == changed.revision
    finally:
        await redis_client.delete(quota_key(tenant))


async def test_metering_path_publishes_a_new_tenants_plan_once(
    admin_sessions, make_tenant, redis_client, nats_client, plans, plans_bucket
) -> None:
    """After a metering commit the meter's publisher writes the plans of tenants the bucket does not know yet."""
    tenant = await _subscribed(admin_sessions, make_tenant, "pro")
    kv = await nats_client.jetstream().key_value(plans_bucket)
    publisher = QuotaPublisher(redis_client, plans, admin_sessions)
    try:
        state = (await _read(admin_sessions, tenant)).states
        publisher.submit(state)
        await publisher.flush()
        first = await kv.get(str(tenant))
        assert first.value == b"pro"
        for _ in range(5):  # batch after batch of the same tenant
            publisher.submit(state)
            await publisher.flush()
        assert (await kv.get(str(tenant))).revision == first.revision
    finally:
        await redis_client.delete(quota_key(tenant))


async def test_nats_outage_is_logged_not_raised(admin_sessions, make_tenant, redis_client, caplog) -> None:
    """With NATS unreachable the quota state still reaches Redis, and the publish neither raises nor waits."""
    tenant = await _subscribed(admin_sessions, make_tenant)
    plans = await TenantPlanPublisher("nats://127.0.0.1:1", retry_s=0.1).start(start_timeout_s=0.2)
    try:
        quotas = await _read(admin_sessions, tenant)
        started = asyncio.get_running_loop().time()
        assert await publish_tenant_quotas(redis_client, plans, quotas) is False
        assert asyncio.get_running_loop().time() - started < 1.0
        assert await redis_client.hget(quota_key(tenant), "limit_name") is not None
        assert "tenant plans not published" in caplog.text
    finally:
        await plans.close()
        await redis_client.delete(quota_key(tenant))


async def test_api_plan_change_reaches_the_bucket(
    billing_url, billing_admin_url, http, tenant, admin_headers, nats_client
) -> None:
    """The billing API writes the plan as it answers a plan change (tenant's own and admin's)."""
    kv = await nats_client.jetstream().key_value(TENANT_PLANS_BUCKET)  # the API created it at start
    key = str(tenant.id)
    try:
        async with http.post(f"{billing_url}/v1/billing/subscription", json={"plan": "pro"}, headers=tenant.auth) as r:
            assert r.status == 200, await r.text()
        assert (await kv.get(key)).value == b"pro"
        path = f"{billing_admin_url}/admin/billing/tenants/{tenant.id}/subscription"
        async with http.put(path, json={"plan": "free"}, headers=admin_headers) as r:
            assert r.status == 200, await r.text()
        changed = await kv.get(key)
        assert changed.value == b"free"
        # A credit grant publishes quota state again; the plan is unchanged, so the entry is not rewritten.
        await grant_credit(http, billing_admin_url, admin_headers, tenant.id, 100)
        assert (await kv.get(key)).revision == changed.revision
    finally:
        await kv.purge(key)
        with pytest.raises(KeyNotFoundError):
            await kv.get(key)
