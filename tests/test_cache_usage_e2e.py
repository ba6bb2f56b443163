"""Issue 14, acceptance 8: each cache hit yields one usage event with `cache_status`; over a mixed run the usage
events equal the requests served, and billing and analytics count them so.

The platform runs as real processes on a private NATS: the gateway (its response cache on for the tenant through
the control plane's flags), the usage writer, billing's meter, API and admin listener, and analytics' consumer and
API. A mixed run (misses, exact hits, a semantic hit, a streamed miss and a streamed replay, a bypass, upstream
errors, plain and streamed, `model: "auto"` routed by the fallback table and then hit) then shows: one
`usage.recorded` per served request, a hit's with no provider and cost 0, `x-cache` equal to the event's
`cache_status`, the routed one with the router's tier and reason; the gateway's rows, billing's ledger and analytics'
totals count the same requests; billing prices the hits at the plan's fee per hit on their own lines, and bills
provider tokens only for what reached a provider; analytics shows the tier distribution.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import nats
import orjson
import pytest
import yaml
from sqlalchemy import text

from aiaas import clock
from aiaas.db import admin_session, tenant_session
from aiaas.events import EventEnvelope
from aiaas_testing import NatsServer, TenantWithKey, wait_for
from gateway.cache.rules import CACHE_FLAGS

HIT_FEE = "0.5"  # cents per cache hit on the test's plan
PRICE_IN, PRICE_OUT = Decimal(1), Decimal(2)  # cents per 1k provider tokens
BROKEN = "e2e-broken"  # an alias whose only deployment the simulator fails (500) while the test runs
# all-MiniLM-L6-v2 puts these two at cosine 0.991 and the pair verifier accepts them (gateway cache tests).
QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"


@pytest.fixture
def private_nats(tmp_path: Path):
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture
def models_file(tmp_path: Path, stack_models_file: Path, provider_sim: str) -> Path:
    """The platform stack's aliases plus one the simulator fails."""
    config = yaml.safe_load(stack_models_file.read_text())
    broken = {
        "name": f"{BROKEN}-a",
        "provider": "openai",
        "model": f"sim-{BROKEN}-{uuid.uuid4().hex[:8]}",
        "base_url": f"{provider_sim}/v1",
        "input_usd_per_1k": "0.5",
        "output_usd_per_1k": "1.5",
    }
    config["aliases"].append({"name": BROKEN, "deployments": [broken]})
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Run:
    """The requests of one tenant and what the gateway answered to each."""

    def __init__(self, http: aiohttp.ClientSession, gateway: str, tenant: TenantWithKey) -> None:
        self.http, self.gateway, self.tenant = http, gateway, tenant
        self.replies: list[dict[str, Any]] = []  # status, x-cache, request id, stream, text

    async def ask(self, content: str, *, model: str = "gpt-4o-mini", stream: bool = False, **headers: str) -> dict:
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 40}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        hdrs = {**self.tenant.auth, **{k.replace("_", "-"): v for k, v in headers.items()}}
        async with self.http.post(f"{self.gateway}/v1/chat/completions", json=body, headers=hdrs) as resp:
            raw = await resp.read()
            reply = {
                "status": resp.status,
                "cache": resp.headers.get("x-cache"),
                "router_tier": resp.headers.get("x-router-tier"),
                "request_id": resp.headers.get("x-request-id"),
                "stream": stream,
                "text": _text(raw, stream) if resp.status == 200 else None,
                "usage": _usage(raw, stream) if resp.status == 200 else None,
            }
        self.replies.append(reply)
        return reply

    async def entries(self) -> int:
        async with self.http.get(f"{self.gateway}/v1/cache", headers=self.tenant.auth) as resp:
            assert resp.status == 200, await resp.text()
            return int((await resp.json())["entries"])

    async def stored(self, count: int) -> None:
        """Answers are stored after the reply, off its path: wait until the tenant holds `count` entries."""

        async def reached() -> bool:
            return await self.entries() == count

        await wait_for(reached, timeout_s=30)


def _text(raw: bytes, stream: bool) -> str:
    if not stream:
        return str(orjson.loads(raw)["choices"][0]["message"]["content"])
    lines = [line[6:] for line in raw.decode().splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]", "a stream (live or replayed) ends with [DONE]"
    chunks = [orjson.loads(line) for line in lines[:-1]]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


def _usage(raw: bytes, stream: bool) -> tuple[int, int]:
    if stream:
        lines = [line[6:] for line in raw.decode().splitlines() if line.startswith("data: ")]
        usage = orjson.loads(lines[-2])["usage"]  # the usage chunk, just before [DONE]
    else:
        usage = orjson.loads(raw)["usage"]
    return int(usage["prompt_tokens"]), int(usage["completion_tokens"])


async def _enable_cache(http: aiohttp.ClientSession, control_plane: str, admin: dict, tenant: TenantWithKey) -> None:
    for spec in CACHE_FLAGS:
        async with http.post(
            f"{control_plane}/admin/flags", json={**spec, "reason": "test: cache flags"}, headers=admin
        ) as resp:
            assert resp.status in (201, 409), await resp.text()
    async with http.put(
        f"{control_plane}/admin/flags/cache.enabled/tenants/{tenant.id}",
        json={"value": True, "reason": "test: cache on"},
        headers=admin,
    ) as resp:
        assert resp.status == 200, await resp.text()


async def _usage_events(nats_url: str, tenant: TenantWithKey, count: int) -> list[EventEnvelope]:
    """Every `usage.recorded` of the tenant in JetStream (waits for `count`, then takes what else is there)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(f"usage.recorded.{tenant.id}", ordered_consumer=True)
        events = [EventEnvelope.from_json((await sub.next_msg(timeout=60)).data) for _ in range(count)]
        info = await sub.consumer_info()
        assert info.num_pending == 0, "more usage events than requests served"
        await sub.unsubscribe()
    finally:
        await nc.close()
    return events


async def test_usage_events_equal_requests_served_and_hits_are_billed_per_plan(
    platform_stack, private_nats, models_file, provider_sim, make_tenant, admin_headers, admin_sessions,
    runtime_sessions, tmp_path,
):  # fmt: skip
    stack = platform_stack(
        nats_url=private_nats.url,
        GATEWAY_MODELS_FILE=str(models_file),
        GATEWAY_USAGE_WAL_DIR=str(tmp_path / "gateway-wal"),
        GATEWAY_BREAKER_FAILURE_THRESHOLD="1000",  # the broken alias keeps reaching the simulator
        GATEWAY_AUTH_CACHE_TTL_S="0.5",
        BILLING_CATALOGUE_TTL_S="0.5",
    )
    control_plane = stack.start("control-plane", "control_plane", http=True)
    gateway = stack.start("gateway", "gateway", http=True)
    stack.start("usage-writer", "gateway.usage_writer")
    stack.start("billing-meter", "billing.meter")
    billing = stack.start("billing", "billing", http=True)
    billing_admin = stack.start("billing-admin", "billing.admin", http=True)
    stack.start("analytics-consumer", "analytics.consumer")
    analytics = stack.start("analytics", "analytics", http=True)
    assert control_plane and gateway and billing and billing_admin and analytics
    broken_model = yaml.safe_load(models_file.read_text())["aliases"][-1]["deployments"][0]["model"]
    tenant = await make_tenant()

    async with aiohttp.ClientSession() as http:
        plan = f"e2e{uuid.uuid4().hex[:10]}"
        body = {
            "code": plan,
            "name": "Cache e2e",
            "included_tokens": 0,
            "overage_policy": "bill",
            "prices": {"standard": {"input_minor_per_1k": str(PRICE_IN), "output_minor_per_1k": str(PRICE_OUT)}},
            "cache_hit_fee_minor": HIT_FEE,
        }
        async with http.post(f"{billing_admin}/admin/billing/plans", json=body, headers=admin_headers) as resp:
            assert resp.status == 201, await resp.text()
        url = f"{billing_admin}/admin/billing/tenants/{tenant.id}/subscription"
        async with http.put(url, json={"plan": plan}, headers=admin_headers) as resp:
            assert resp.status == 200, await resp.text()
        await _enable_cache(http, control_plane, admin_headers, tenant)
        async with http.post(
            f"{provider_sim}/_sim/faults", json={"model": broken_model, "fault": "500", "count": None}
        ) as resp:
            assert resp.status == 201, await resp.text()

        run = Run(http, gateway, tenant)

        async def cache_on() -> bool:
            async with http.get(f"{gateway}/v1/cache", headers=tenant.auth) as resp:
                return resp.status == 200 and (await resp.json())["enabled"] is True

        await wait_for(cache_on, timeout_s=30)
        try:
            first = await run.ask("Name three colours of the rainbow.")
            await run.stored(1)
            again = await run.ask("Name three colours of the rainbow.")
            replayed = await run.ask("Name three colours of the rainbow.", stream=True)
            harbour = await run.ask("Describe a quiet harbour at dawn.", stream=True)
            await run.stored(2)
            harbour_again = await run.ask("Describe a quiet harbour at dawn.")
            question = await run.ask(QUESTION)
            await run.stored(3)
            paraphrase = await run.ask(PARAPHRASE)
            bypass = await run.ask("Name three colours of the rainbow.", Cache_Control="no-cache, no-store")
            large = await run.ask("What is the capital of Portugal?", model="gpt-4o")
            failed = await run.ask("Is anyone there?", model=BROKEN)
            failed_stream = await run.ask("Is anyone there at all?", model=BROKEN, stream=True)
            # model "auto" without a router: the gateway's fallback table picks the tier; the repeat is a hit of auto.
            routed = await run.ask("Say hello to the team in one short sentence.", model="auto")
            await run.stored(5)
            routed_again = await run.ask("Say hello to the team in one short sentence.", model="auto")
        finally:
            async with http.delete(f"{provider_sim}/_sim/faults", params={"model": broken_model}) as resp:
                assert resp.status == 200

        assert [r["cache"] for r in (first, again, replayed, harbour, harbour_again)] == [
            "miss",
            "exact",
            "exact",
            "miss",
            "exact",
        ]
        assert (question["cache"], paraphrase["cache"], bypass["cache"], large["cache"]) == (
            "miss",
            "semantic",
            "bypass",
            "miss",
        )
        assert again["text"] == replayed["text"] == first["text"] and harbour_again["text"] == harbour["text"]
        assert paraphrase["text"] == question["text"]
        assert failed["status"] == 502 and failed_stream["status"] == 502
        served = run.replies
        assert (routed["cache"], routed_again["cache"]) == ("miss", "exact") and routed["router_tier"]
        assert all(r["status"] in (200, 502) for r in served) and len(served) == 13

        # One usage event per served request, none more; a hit's has no provider and cost 0.
        events = await _usage_events(private_nats.url, tenant, len(served))
        by_request = {ev.data["request_id"]: ev.data for ev in events}
        assert len(by_request) == len(events) == len(served)
        hits = [d for d in by_request.values() if d["cache_status"] in ("exact", "semantic")]
        assert sorted(d["cache_status"] for d in hits) == ["exact", "exact", "exact", "exact", "semantic"]
        for data in hits:
            assert (data["provider"], data["deployment"], data["cost_usd"], data["status"]) == (
                None,
                None,
                "0",
                "success",
            )
        for reply in served:
            if reply["status"] == 200:
                data = by_request[reply["request_id"]]
                assert data["cache_status"] == reply["cache"]
                assert (data["tokens_in"], data["tokens_out"]) == reply["usage"]
        decided = by_request[routed["request_id"]]
        assert (decided["requested_alias"], decided["router_tier"], decided["router_reason"]) == (
            "auto",
            routed["router_tier"],
            "fallback",
        )
        assert decided["model_alias"] in ("gpt-4o-mini", "gpt-4o") and decided["router_decision_id"]
        assert by_request[routed_again["request_id"]]["model_alias"] == "auto"  # answered before any routing
        errors = [d for d in by_request.values() if d["status"] == "error"]
        assert [(d["model_alias"], d["cache_status"]) for d in errors] == [(BROKEN, "miss"), (BROKEN, "miss")]
        provider = [d for d in by_request.values() if d["cache_status"] not in ("exact", "semantic")]
        provider_in = sum(d["tokens_in"] for d in provider)
        provider_out = sum(d["tokens_out"] for d in provider)
        saved = sum(d["tokens_in"] + d["tokens_out"] for d in hits)

        # The gateway's usage rows: the same requests, with their cache status.
        async def rows() -> list[Any] | None:
            async with tenant_session(runtime_sessions, tenant.id) as session:
                found = (await session.execute(text("select request_id, cache_status, cost_usd from requests"))).all()
            return found if len(found) >= len(served) else None

        written = await wait_for(rows)
        assert {r.request_id: r.cache_status for r in written} == {k: d["cache_status"] for k, d in by_request.items()}
        assert all(r.cost_usd == 0 for r in written if r.cache_status in ("exact", "semantic"))

        # Billing: every event metered once; hits priced at the plan's fee on their own lines, tokens only for misses.
        async def ledger() -> int | None:
            async with admin_session(admin_sessions) as session:
                query = text("select count(*) from usage_ledger where tenant_id = :t")
                count = int((await session.execute(query, {"t": tenant.id})).scalar_one())
            return count if count >= len(served) else None

        assert await wait_for(ledger) == len(served)
        async with http.get(f"{billing}/v1/billing/usage?period=current", headers=tenant.auth) as resp:
            assert resp.status == 200, await resp.text()
            usage = await resp.json()
        assert usage["plan"] == plan
        assert usage["totals"] == {
            "tokens_in": provider_in,
            "tokens_out": provider_out,
            "tokens": provider_in + provider_out,
            "requests": len(served),
        }
        fee = Decimal(HIT_FEE)
        assert usage["cache"] == {
            "exact_hits": 4,
            "semantic_hits": 1,
            "hits": 5,
            "cached_tokens": saved,
            "charge_minor": str((5 * fee).normalize()),
        }
        token_charge = (provider_in * PRICE_IN + provider_out * PRICE_OUT) / 1000
        assert Decimal(usage["overage_charge_minor"]) == token_charge + 5 * fee
        async with http.get(f"{billing}/v1/billing/invoice/preview", headers=tenant.auth) as resp:
            preview = await resp.json()
        quantities: dict[tuple[str, str], int] = {}  # token lines are per tier (gpt-4o-mini small, gpt-4o large)
        for line in preview["lines"]:
            if line["kind"] != "base_fee":
                key = (line["kind"], line["meter"])
                quantities[key] = quantities.get(key, 0) + line["quantity"]
        assert quantities == {
            ("usage", "tokens_in"): provider_in,
            ("usage", "tokens_out"): provider_out,
            ("cache_hits", "cache_hits_exact"): 4,
            ("cache_hits", "cache_hits_semantic"): 1,
        }

        # Analytics: the same requests, the hit rate and the provider tokens the cache saved.
        now = clock.now()
        params = {
            "start": (now - timedelta(days=1)).isoformat(),
            "end": (now + timedelta(days=1)).isoformat(),
            "granularity": "day",
        }

        async def kpis() -> dict[str, Any] | None:
            async with http.get(f"{analytics}/v1/analytics/kpis", params=params, headers=tenant.auth) as resp:
                body = await resp.json()
            totals: dict[str, Any] = body["totals"]
            return totals if totals["requests"] >= len(served) else None

        totals = await wait_for(kpis)
        assert (totals["requests"], totals["errored"]) == (len(served), 2)
        assert (totals["cache_hits"], totals["cache_semantic_hits"], totals["cache_tokens_saved"]) == (5, 1, saved)
        assert totals["cache_hit_rate"] == 5 / len(served)
        assert (totals["tokens_in"], totals["tokens_out"]) == (provider_in, provider_out)
        tiers = await wait_for(lambda: _router_tiers(http, analytics, tenant, params))
        assert tiers == [{"tier": routed["router_tier"], "reason": "fallback", "requests": 1, "share": 1.0}]


async def _router_tiers(
    http: aiohttp.ClientSession, analytics: str, tenant: TenantWithKey, params: dict[str, str]
) -> list[dict[str, Any]]:
    async with http.get(f"{analytics}/v1/analytics/kpis", params=params, headers=tenant.auth) as resp:
        return list((await resp.json())["router_tiers"])
