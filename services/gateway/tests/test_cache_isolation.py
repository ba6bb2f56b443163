"""The cache never crosses tenants (Redis keys, RLS rows), meters each request once, and refuses bad input.

Issue 14 acceptance 7 (two tenants, the RLS probe through app_runtime) and the gateway's half of 8 (each hit
yields one usage event with `cache_status`; over a mixed run, events = requests served).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import aiohttp
import nats
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from aiaas import clock
from aiaas.db import tenant_session
from aiaas.events import EventEnvelope
from aiaas.events.schemas import UsageRecorded

from .cache_support import PARAPHRASE, QUESTION, UNRELATED, CacheStack, run_control_plane


@pytest.fixture(scope="module")
def control_plane(run_dir, control_plane_env) -> Iterator[str]:
    yield from run_control_plane(run_dir, control_plane_env)


@pytest.fixture
async def stack(control_plane, gateway_url, sim_url, admin_headers, make_tenant) -> AsyncIterator[CacheStack]:
    async with aiohttp.ClientSession() as http:
        stack = CacheStack(
            http,
            gateway=gateway_url,
            control_plane=control_plane,
            sim=sim_url,
            admin_headers=admin_headers,
            make_tenant=make_tenant,
        )
        await stack.ensure_flags()
        yield stack


async def test_two_tenants_sending_one_prompt_never_get_each_others_entry(stack, redis_client):
    a, b = await stack.tenant(), await stack.tenant()
    first_a = await stack.ask(a, QUESTION)
    await stack.stored(a, 1)
    hit_a = await stack.ask(a, QUESTION)
    assert (first_a.cache, hit_a.cache) == ("miss", "exact")

    before = await stack.sim_requests()
    assert (await stack.ask(b, PARAPHRASE, headers={"Cache-Control": "no-store"})).cache == "miss"
    assert (await stack.ask(b, QUESTION)).cache == "miss"
    assert await stack.sim_requests() == before + 2, "B's requests reached the provider"
    await stack.stored(b, 1)
    hit_b = await stack.ask(b, QUESTION)
    assert hit_b.cache == "exact"
    assert hit_b.headers["x-cache-id"] != hit_a.headers["x-cache-id"]

    # B can neither delete A's entry by its id nor clear A's cache.
    status, body = await stack.delete(b, f"/{hit_a.headers['x-cache-id']}")
    assert (status, body["error"]["code"]) == (404, "cache_entry_not_found")
    assert (await stack.delete(b))[1]["deleted"] == 1
    assert (await stack.ask(a, QUESTION)).cache == "exact"
    assert await stack.entries(a) == 1

    # The exact tier's keys are namespaced by tenant.
    keys_a = [key async for key in redis_client.scan_iter(match=f"cache:{a.id}:*")]
    keys_b = [key async for key in redis_client.scan_iter(match=f"cache:{b.id}:*")]
    assert len(keys_a) == 1 and keys_b == []


async def test_an_rls_probe_through_app_runtime_sees_only_its_own_cache_rows(stack, runtime_sessions):
    a, b = await stack.tenant(), await stack.tenant()
    for tenant, question in ((a, QUESTION), (a, UNRELATED), (b, QUESTION)):
        await stack.ask(tenant, question)
    await stack.stored(a, 2)
    await stack.stored(b, 1)

    async with tenant_session(runtime_sessions, a.id) as session:
        rows = (await session.execute(text("select tenant_id, query_text from semantic_cache_entries"))).all()
    assert {row.tenant_id for row in rows} == {a.id}
    assert sorted(row.query_text for row in rows) == sorted([QUESTION, UNRELATED])

    async with runtime_sessions() as session:  # no tenant bound: nothing
        assert (await session.execute(text("select count(*) from semantic_cache_entries"))).scalar_one() == 0

    now = clock.now()
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_session(runtime_sessions, a.id) as session:
            await session.execute(
                text(
                    "insert into semantic_cache_entries (id, tenant_id, model_alias, exact_key, system_hash,"
                    " params_hash, answer, created_at, expires_at)"
                    " values (:id, :tenant, 'chat', :h, :h, :h, '{}', :now, :later)"
                ),
                {"id": uuid.uuid4(), "tenant": b.id, "h": "0" * 64, "now": now, "later": now + timedelta(hours=1)},
            )
    async with tenant_session(runtime_sessions, a.id) as session:
        result = await session.execute(text("delete from semantic_cache_entries where tenant_id = :b"), {"b": b.id})
        assert result.rowcount == 0  # type: ignore[attr-defined]
    assert await stack.entries(b) == 1


async def test_every_request_served_yields_one_usage_event_with_its_cache_status(stack, infra_urls):
    tenant = await stack.tenant()
    served: dict[str, tuple[str, object]] = {}

    async def ask(question: str, **options: object) -> None:
        reply = await stack.ask(tenant, question, **options)  # type: ignore[arg-type]
        served[reply.request_id] = (reply.cache or "", reply.usage)

    await ask(QUESTION, stream=True)
    await stack.stored(tenant, 1)
    await ask(QUESTION)  # exact
    await ask(PARAPHRASE, stream=True)  # semantic
    await ask(UNRELATED, headers={"Cache-Control": "no-store"})  # miss
    await ask(QUESTION, headers={"Cache-Control": "no-cache"})  # bypass: the provider answers
    await ask(QUESTION, model="claude", stream=True)  # another alias: a miss
    assert sorted(status for status, _ in served.values()) == sorted(
        ["miss", "exact", "semantic", "miss", "bypass", "miss"]
    )

    nc = await nats.connect(infra_urls.nats_url)
    try:
        sub = await nc.jetstream().subscribe(f"usage.recorded.{tenant.id}", ordered_consumer=True)
        events: list[EventEnvelope] = []
        while len(events) < len(served):
            events.append(EventEnvelope.from_json((await sub.next_msg(timeout=30)).data))
        with pytest.raises(nats.errors.TimeoutError):
            await sub.next_msg(timeout=0.5)  # and nothing more
        await sub.unsubscribe()
    finally:
        await nc.close()

    by_request = {event.data["request_id"]: UsageRecorded.model_validate(event.data) for event in events}
    assert len(by_request) == len(events) == len(served), "one event per request served"
    for request_id, (status, usage) in served.items():
        event = by_request[request_id]
        assert event.cache_status == status
        assert event.status == "success"
        assert (event.tokens_in, event.tokens_out) == (usage.prompt_tokens, usage.completion_tokens)  # type: ignore[attr-defined]
        if status in ("exact", "semantic"):
            assert event.provider is None and event.deployment is None
            assert event.cost_usd == 0
        else:
            assert event.provider is not None and event.cost_usd > 0


async def test_max_entries_evicts_the_oldest(stack):
    tenant = await stack.tenant(cache__max_entries=2)
    questions = ["Where is the Louvre?", "How tall is Mount Everest?", "Who painted the Mona Lisa?"]
    for count, question in enumerate(questions, start=1):
        await stack.ask(tenant, question)
        await stack.stored(tenant, min(count, 2))
    assert (await stack.ask(tenant, questions[2])).cache == "exact"
    assert (await stack.ask(tenant, questions[1])).cache == "exact"
    assert (await stack.ask(tenant, questions[0], headers={"Cache-Control": "no-store"})).cache == "miss"


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/not-a-uuid", {}, 422, None),
        (f"/{uuid.uuid4()}", {}, 404, "cache_entry_not_found"),
        ("", {"model": ""}, 422, None),
        ("", {"model": "m" * 300}, 422, None),
        ("", {"model": "chat\x00"}, 422, None),
    ],
)
async def test_bad_input_on_the_cache_endpoints_is_a_4xx_json_error(stack, path, params, status, code):
    tenant = await stack.tenant()
    got, body = await stack.delete(tenant, path, **params)
    assert got == status
    assert set(body["error"]) >= {"type", "code", "message"}
    if code is not None:
        assert body["error"]["code"] == code


async def test_the_cache_endpoints_need_a_chat_key(stack, make_tenant):
    async with stack.http.delete(f"{stack.gateway}/v1/cache") as resp:
        assert resp.status == 401
        assert "error" in await resp.json()
    billing_only = await make_tenant(scopes=["billing:read"])
    async with stack.http.get(f"{stack.gateway}/v1/cache", headers=billing_only.auth) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "insufficient_scope"
