"""The invariants of a STRESS run (issue 16, acceptance 7), each read from the system itself after the run:

- `terminal`: every run terminal, and within `settle_s` of the last fault (or of the last submission, if later);
- `effects_once`: the toolbox executed each idempotency key's effect at most once (its own counters);
- `sagas_compensated`: no run that ended failed/compensated/cancelled/expired keeps a succeeded side effect that
  has a compensation without that compensation succeeded (the ledger, read as platform_admin);
- `tool_events`: every `tool.call.requested` in ORCH_EVENTS has exactly one terminal event, none without one;
- `dlq`: the run consumer's DLQ holds exactly the poison messages injected;
- `breaker`: some worker's toolbox breaker opened, and every worker process where it opened closed it again;
- `bulkhead`: no tool's in-flight gauge exceeded its manifest's concurrency;
- `schedule`: the schedule rebuilt from (plan, seed) hashes the same, and the injector applied exactly it.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import orjson
from nats.aio.client import Client as NatsClient
from nats.js.api import ConsumerConfig, DeliverPolicy

from aiaas.events.consumer import dlq_subject
from aiaas.events.topology import CONSUMERS
from orchestrator.tools_catalog import TOOLS

__all__ = ["Check", "breaker_check", "bulkhead_check", "dlq_check", "effects_check", "saga_check", "tool_events_check"]


@dataclass
class Check:
    name: str
    ok: bool
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, **self.detail}


async def effects_check(http: aiohttp.ClientSession, toolbox_url: str, tenants: list[str]) -> Check:
    keys = 0
    over: list[dict[str, Any]] = []
    for tenant in tenants:
        async with http.get(f"{toolbox_url}/control/effects", params={"tenant": tenant}) as resp:
            resp.raise_for_status()
            rows = (await resp.json())["keys"]
        for row in rows:
            if row["effects"] > 0:
                keys += 1
            if row["effects"] > 1:
                over.append({"tenant": tenant, **row})
    return Check("effects_once", not over, {"keys_with_effect": keys, "keys_over_one": over[:20]})


_UNCOMPENSATED = """
select r.id as run_id, r.status, t.tool, t.idem_key from orch_runs r
join tool_calls t on t.tenant_id = r.tenant_id and t.run_id = r.id
where r.id = any($1::uuid[]) and r.status in ('failed', 'compensated', 'cancelled', 'expired')
  and t.status = 'succeeded' and t.side_effect and t.compensation is not null and t.compensation_of is null
  and not exists (select 1 from tool_calls c where c.tenant_id = t.tenant_id and c.compensation_of = t.id
                  and c.status = 'succeeded')
"""


async def saga_check(admin_dsn: str, run_ids: list[uuid.UUID]) -> Check:
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch(_UNCOMPENSATED, run_ids)
        statuses = await conn.fetch(
            "select status, count(*) as n from orch_runs where id = any($1::uuid[]) group by status", run_ids
        )
    finally:
        await conn.close()
    left = [{k: str(v) for k, v in dict(row).items()} for row in rows]
    return Check(
        "sagas_compensated",
        not left,
        {"uncompensated": left[:20], "statuses": {row["status"]: row["n"] for row in statuses}},
    )


async def _read_all(nc: NatsClient, stream: str, subject: str) -> list[Any]:
    js = nc.jetstream()
    sub = await js.pull_subscribe(subject, stream=stream, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    msgs: list[Any] = []
    try:
        while True:
            try:
                batch = await sub.fetch(1000, timeout=2)
            except TimeoutError:
                return msgs
            for msg in batch:
                msgs.append(msg)
                await msg.ack()
    finally:
        await sub.unsubscribe()


async def tool_events_check(nc: NatsClient, run_ids: set[uuid.UUID]) -> Check:
    requested: Counter[str] = Counter()
    terminal: Counter[str] = Counter()
    for msg in await _read_all(nc, "ORCH_EVENTS", "tool.call.>"):
        event = orjson.loads(msg.data)
        data = event["data"]
        if uuid.UUID(data["run_id"]) not in run_ids:
            continue
        if event["type"] == "tool.call.requested":
            requested[data["call_id"]] += 1
        elif event["type"] in ("tool.call.succeeded", "tool.call.failed"):
            terminal[data["call_id"]] += 1
    bad = {
        call: {"requested": requested[call], "terminal": terminal[call]}
        for call in set(requested) | set(terminal)
        if requested[call] != 1 or terminal[call] != 1
    }
    detail = {
        "requested": sum(requested.values()),
        "terminal": sum(terminal.values()),
        "bad": dict(list(bad.items())[:20]),
    }
    return Check("tool_events", not bad and bool(requested), detail)


async def dlq_check(nc: NatsClient, poison: int) -> Check:
    subject = dlq_subject(CONSUMERS["orchestrator-runs"])
    msgs = await _read_all(nc, "DLQ", subject)
    errors = [(msg.headers or {}).get("Aiaas-Error", "")[:200] for msg in msgs]
    return Check(
        "dlq", len(msgs) == poison, {"dead_lettered": len(msgs), "poison_injected": poison, "errors": errors[:10]}
    )


def breaker_check(states: dict[str, list[int]], live: set[str], expected: bool) -> Check:
    """Opened somewhere (state 2 seen), and every worker process still alive at the end that saw it open closed it
    again (last state 0). A process killed while open cannot be watched closing: it is listed, not failed."""
    opened = {key: seen for key, seen in states.items() if 2 in seen}
    stuck = [key for key, seen in opened.items() if key in live and seen[-1] != 0]
    closed = [key for key, seen in opened.items() if key in live and seen[-1] == 0]
    killed_open = [key for key in opened if key not in live]
    ok = (bool(closed) and not stuck) if expected else not stuck
    detail = {
        "expected_to_open": expected,
        "states": states,
        "closed_again": closed,
        "not_closed": stuck,
        "killed_while_open": killed_open,
    }
    return Check("breaker", ok, detail)


def bulkhead_check(max_in_flight: dict[str, float], outcomes: dict[str, float]) -> Check:
    limits = {name: tool.limits.concurrency for name, tool in TOOLS.items()}
    over = {tool: seen for tool, seen in max_in_flight.items() if tool in limits and seen > limits[tool]}
    rejected = {label: n for label, n in outcomes.items() if label.endswith("/bulkhead_full")}
    by_outcome: dict[str, float] = defaultdict(float)
    for label, n in outcomes.items():
        by_outcome[label.rsplit("/", 1)[1]] += n
    return Check(
        "bulkhead",
        not over,
        {
            "max_in_flight": max_in_flight,
            "limits": {t: limits[t] for t in max_in_flight if t in limits},
            "over_limit": over,
            "bulkhead_full": rejected,
            "tool_calls_by_outcome": dict(by_outcome),
        },
    )
