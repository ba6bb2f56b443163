"""`python -m analytics rebuild`: truncate and replay gives exactly the same KPIs, even with events arriving."""

from __future__ import annotations

import asyncio
import os
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta

BASE = datetime(2026, 6, 1, tzinfo=UTC)
END = BASE + timedelta(days=2)


def _events(h, tenant, n: int, seed: int):
    rng = random.Random(seed)
    keys = [tenant.key_id, uuid.uuid4()]
    return [
        h.usage_event(
            tenant.id,
            rng.choice(keys),
            BASE + timedelta(seconds=rng.uniform(0, 47 * 3600)),
            model=rng.choice(["chat", "claude"]),
            status=rng.choice(["success", "success", "success", "error", "cancelled"]),
            tokens_in=rng.randint(1, 999),
            tokens_out=rng.randint(0, 999),
            cost_usd=f"0.{rng.randint(0, 10**10 - 1):010d}",
            latency_ms=rng.lognormvariate(5, 1),
            ttft_ms=rng.lognormvariate(3, 1) if rng.random() < 0.5 else None,
            cache_hit=rng.choice([None, True, False]),
        )
        for _ in range(n)
    ]


async def _snapshot(h, http, stack, tenants, admin_headers):
    shots = {}
    for tenant in tenants:
        for granularity in ("minute", "hour", "day"):
            status, body = await h.get_json(
                http, f"{stack.api_url}/v1/analytics/kpis", tenant.auth, start=BASE, end=END, granularity=granularity
            )
            assert status == 200
            shots[(tenant.id, granularity)] = body
        status, body = await h.get_json(
            http, f"{stack.admin_url}/admin/analytics/kpis", admin_headers, start=BASE, end=END, tenant_id=tenant.id
        )
        shots[(tenant.id, "admin")] = body
    return shots


async def test_rebuild_reproduces_the_kpis_exactly(h, http, stack, js, publish, make_tenant, admin_headers):
    a, b, late = await make_tenant(), await make_tenant(), await make_tenant()
    a_events, b_events = _events(h, a, 300, seed=5), _events(h, b, 200, seed=6)
    await publish(a_events + b_events)
    before = await _snapshot(h, http, stack, [a, b], admin_headers)
    assert before[(a.id, "day")]["totals"]["requests"] == 300

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "analytics",
        "rebuild",
        env={**os.environ, **stack.admin_env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    # Events keep arriving while the read models are rebuilt (the consumer process keeps running too).
    late_events = _events(h, late, 60, seed=7)
    for chunk in range(0, 60, 10):
        await h.publish_all(js, late_events[chunk : chunk + 10])
        await asyncio.sleep(0.05)
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    assert proc.returncode == 0, output.decode()
    assert b"rebuilt" in output
    await h.wait_caught_up(js)

    after = await _snapshot(h, http, stack, [a, b], admin_headers)
    assert after == before
    status, body = await h.get_json(http, f"{stack.api_url}/v1/analytics/kpis", late.auth, start=BASE, end=END)
    assert h.counters_of(body["totals"]) == h.expected_kpis(late_events)

    # The running consumer follows the re-created durable: new events still arrive.
    extra = h.usage_event(a.id, a.key_id, BASE + timedelta(hours=1))
    await publish([extra])
    status, body = await h.get_json(http, f"{stack.api_url}/v1/analytics/kpis", a.auth, start=BASE, end=END)
    assert body["totals"]["requests"] == 301
