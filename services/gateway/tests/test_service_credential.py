"""A platform service's credential at the gateway (gateway/callers.py), through the official `openai` SDK.

The orchestrator's admin key, listed in GATEWAY_SERVICE_KEY_NAMES, calls for the tenant in `x-aiaas-tenant-id`:
the request is that tenant's (its rate limits and plan quota; its usage rows, with the admin key's id as
`api_key_id`), and `x-aiaas-run-id` / `x-aiaas-step` reach the usage event and the `requests` row. Another admin
key is refused (403), a missing, malformed or unknown tenant is a 400, and a tenant key's run and step headers
are ignored.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import nats
import openai
import pytest
import redis.asyncio as redis_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import quota
from aiaas.db import admin_session, tenant_session
from aiaas.events import EventEnvelope
from aiaas.events.schemas import UsageRecorded
from aiaas.quota import QuotaState, quota_key
from aiaas_testing import AdminKey, NatsServer, ServiceProcess, TenantWithKey, wait_for

from .factories import usage_validator

BODY = {"model": "chat", "messages": [{"role": "user", "content": "plan the refund"}], "max_tokens": 8}
_COLUMNS = "request_id, tenant_id, api_key_id, status, tokens_in, tokens_out, stream, orch_run_id, orch_step"


@pytest.fixture(scope="session")
async def orchestrator_key(make_admin_key) -> AdminKey:
    """The orchestrator's service credential in these tests: a named admin key the gateway below lists."""
    return await make_admin_key()


@pytest.fixture(scope="session")
def service_nats(run_dir: Path) -> Iterator[NatsServer]:
    """A NATS of these tests' own: no other process's usage writer competes for their usage events."""
    server = NatsServer(run_dir / "nats-service-keys").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def service_gateway(
    spawn_gateway, gateway_base_env: dict[str, str], run_dir: Path, service_nats: NatsServer, orchestrator_key: AdminKey
) -> Iterator[str]:
    """A gateway listing the orchestrator's key (the shared one keeps the default name, `orchestrator`), with its
    usage writer."""
    env = {"NATS_URL": service_nats.url, "GATEWAY_SERVICE_KEY_NAMES": f"other-service,{orchestrator_key.name}"}
    url = spawn_gateway(name="gateway-service-keys", **env)
    writer = ServiceProcess(
        ["-m", "gateway.usage_writer"], env={**gateway_base_env, **env}, log_path=run_dir / "writer-service-keys.log"
    ).start()
    yield url
    writer.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _sdk(url: str, key: str, **headers: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, default_headers=headers)


async def _rows(sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, want: int) -> dict[str, tuple]:
    """The tenant's `requests` rows by request id, once the usage writer has stored `want` of them."""

    async def stored() -> dict[str, tuple] | None:
        async with tenant_session(sessions, tenant_id) as session:
            rows = (await session.execute(text(f"select {_COLUMNS} from requests"))).all()  # noqa: S608  # nosec B608
        return {row.request_id: tuple(row[1:]) for row in rows} if len(rows) >= want else None

    return await wait_for(stored)


async def _error(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, str]:
    async with http.post(f"{url}/v1/chat/completions", json=BODY, headers=headers) as resp:
        body = await resp.json(content_type=None)
    assert set(body["error"]) >= {"type", "code", "message"}
    return resp.status, body["error"]["code"]


async def test_each_call_is_the_tenants_and_joins_its_step(
    service_gateway: str,
    orchestrator_key: AdminKey,
    make_tenant,
    runtime_sessions,
    redis_client: redis_asyncio.Redis,
    service_nats: NatsServer,
) -> None:
    tenant = await make_tenant()
    run_id = uuid.uuid4()
    await quota.reconcile(
        redis_client, tenant.id, QuotaState("2026-11-01T00:00:00+00:00", 1_000_000, 1_000, 0, 0, 0, "plan 'pro'")
    )
    nc = await nats.connect(service_nats.url)
    events = await nc.jetstream().subscribe(f"usage.recorded.{tenant.id}", ordered_consumer=True)
    client = _sdk(
        service_gateway, orchestrator_key.key, **{"x-aiaas-tenant-id": str(tenant.id), "x-aiaas-run-id": str(run_id)}
    )
    try:
        plain = await client.chat.completions.with_raw_response.create(
            **BODY, extra_headers={"x-aiaas-step": "classify:1"}
        )
        completion = plain.parse()
        async with client.chat.completions.with_streaming_response.create(
            **BODY, stream=True, stream_options={"include_usage": True}, extra_headers={"x-aiaas-step": "answer#2"}
        ) as streamed:
            chunks = [chunk async for chunk in await streamed.parse()]
        rows = await _rows(runtime_sessions, tenant.id, 2)
        seen = [EventEnvelope.from_json((await events.next_msg(timeout=30)).data) for _ in range(2)]
    finally:
        await events.unsubscribe()
        await nc.close()
        await client.close()

    stream_usage = chunks[-1].usage
    assert completion.usage is not None and stream_usage is not None
    plain_id, stream_id = plain.headers["x-request-id"], streamed.headers["x-request-id"]
    key = orchestrator_key.key_id
    usage = completion.usage
    assert rows[plain_id] == (
        tenant.id,
        key,
        "success",
        usage.prompt_tokens,
        usage.completion_tokens,
        False,
        run_id,
        "classify:1",
    )
    assert rows[stream_id][:2] == (tenant.id, key)
    assert rows[stream_id][5:] == (True, run_id, "answer#2")
    # Metered to the tenant's plan quota like any request of its own (billing reads the same usage events).
    served = usage.total_tokens + stream_usage.total_tokens

    async def quota_used() -> bool:
        used = await redis_client.hmget(quota_key(str(tenant.id)), "used_tokens", "used_requests")
        return (int(used[0] or 0), int(used[1] or 0)) == (served, 2)

    await wait_for(quota_used, timeout_s=5, interval_s=0.01)  # settled a few ms after each response, batched
    await redis_client.delete(quota_key(str(tenant.id)))
    validator = usage_validator()
    by_request = {event.data["request_id"]: event for event in seen}
    for event in seen:
        validator.validate(json.loads(event.to_json()))
        assert event.tenant_id == tenant.id
    assert UsageRecorded.model_validate(by_request[plain_id].data).orch_run_id == run_id
    assert by_request[stream_id].data["orch_step"] == "answer#2"


async def test_the_tenants_rate_limit_applies(service_gateway: str, orchestrator_key: AdminKey, make_tenant) -> None:
    tenant = await make_tenant(rate_limit_rpm=2)
    client = _sdk(service_gateway, orchestrator_key.key, **{"x-aiaas-tenant-id": str(tenant.id)})
    own = _sdk(service_gateway, tenant.api_key)
    try:
        for _ in range(2):
            await client.chat.completions.create(**BODY)
        with pytest.raises(openai.RateLimitError) as refused:
            await client.chat.completions.create(**BODY)
        # One bucket: the tenant's own key has nothing left either.
        with pytest.raises(openai.RateLimitError):
            await own.chat.completions.create(**BODY)
    finally:
        await client.close()
        await own.close()
    assert refused.value.code == "rate_limit_exceeded"


async def test_who_may_act_for_a_tenant(
    service_gateway: str,
    orchestrator_key: AdminKey,
    make_admin_key,
    make_tenant,
    admin_sessions,
    http: aiohttp.ClientSession,
) -> None:
    tenant, suspended = await make_tenant(), await make_tenant()
    async with admin_session(admin_sessions) as session:
        await session.execute(text("update tenants set status = 'suspended' where id = :id"), {"id": suspended.id})
    other = await make_admin_key()
    service = orchestrator_key.auth
    named = {**service, "x-aiaas-tenant-id": str(tenant.id)}
    cases = [
        ({**other.auth, "x-aiaas-tenant-id": str(tenant.id)}, 403, "not_a_service_key"),
        ({"Authorization": "Bearer sk-admin-nope", "x-aiaas-tenant-id": str(tenant.id)}, 401, "invalid_admin_key"),
        (service, 400, "missing_tenant_id"),
        ({**service, "x-aiaas-tenant-id": "tenant-7"}, 400, "invalid_tenant_id"),
        ({**service, "x-aiaas-tenant-id": str(uuid.uuid4())}, 400, "unknown_tenant"),
        ({**service, "x-aiaas-tenant-id": str(suspended.id)}, 403, "tenant_suspended"),
        ({**named, "x-aiaas-run-id": "run-7"}, 400, "invalid_run_id"),
        ({**named, "x-aiaas-run-id": ""}, 400, "invalid_run_id"),
        ({**named, "x-aiaas-step": "answer step"}, 400, "invalid_step"),
        ({**named, "x-aiaas-step": "s" * 129}, 400, "invalid_step"),
        ({**named, "x-aiaas-step": ""}, 400, "invalid_step"),
    ]
    for headers, status, code in cases:
        assert await _error(http, service_gateway, headers) == (status, code), headers
    # The same refusal through the SDK: a foreign admin key is not the orchestrator's.
    foreign = _sdk(service_gateway, other.key, **{"x-aiaas-tenant-id": str(tenant.id)})
    try:
        with pytest.raises(openai.PermissionDeniedError) as denied:
            await foreign.chat.completions.create(**BODY)
    finally:
        await foreign.close()
    assert denied.value.code == "not_a_service_key"
    # The model list takes the credential too; the other FastAPI routes refuse it.
    async with http.get(f"{service_gateway}/v1/models", headers=named) as resp:
        models = await resp.json()
    assert resp.status == 200 and "chat" in {model["id"] for model in models["data"]}
    async with http.get(f"{service_gateway}/v1/models", headers=other.auth) as resp:
        assert (resp.status, (await resp.json())["error"]["code"]) == (403, "not_a_service_key")
    async with http.get(f"{service_gateway}/v1/cache", headers=named) as resp:
        assert (resp.status, (await resp.json())["error"]["code"]) == (403, "service_key_not_allowed")


async def test_a_tenant_keys_run_and_step_headers_are_ignored(
    service_gateway: str, tenant: TenantWithKey, runtime_sessions
) -> None:
    other_tenant = uuid.uuid4()
    client = _sdk(
        service_gateway,
        tenant.api_key,
        **{"x-aiaas-tenant-id": str(other_tenant), "x-aiaas-run-id": "not-a-uuid", "x-aiaas-step": "no spaces allowed"},
    )
    try:
        raw = await client.chat.completions.with_raw_response.create(**BODY)
    finally:
        await client.close()
    rows = await _rows(runtime_sessions, tenant.id, 1)
    assert rows[raw.headers["x-request-id"]][:2] == (tenant.id, tenant.key_id)
    assert rows[raw.headers["x-request-id"]][6:] == (None, None)
