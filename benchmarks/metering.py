"""Billing meter benchmark: sustained usage.recorded load -> ledger rows committed per second and lag.

    .venv/bin/python benchmarks/metering.py            # 6,000 events/s for 30 s, 8 tenants
    .venv/bin/python benchmarks/metering.py --quick    # 3,000 events/s for 8 s

The meter (`python -m billing.meter`) runs as a subprocess pinned to core 1 (taskset), this script
(the publisher) on core 0. To keep the synthetic load away from other consumers of the shared NATS,
the events go to a private stream (BENCH_METERING, subjects bench.usage.recorded.>) that the meter is
pointed at through BILLING_METER_STREAM / _DURABLE / _FILTER_SUBJECT; the envelopes are the real
usage.recorded ones. The meter's outbox relay is switched off (the billing.usage.metered rows it
writes would otherwise reach the shared BILLING stream); they are deleted at the end, and whatever
another process's relay published meanwhile is purged from BILLING (bench tenants' subjects only).

Measured: events/s committed = ledger rows / (last created_at - first created_at) while the load
ran; lag = ledger created_at (clock_timestamp() at insert, just before commit) - envelope
occurred_at (stamped by the publisher right before publishing). Results go to
benchmarks/results/metering-<UTC timestamp>.json and metering-latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import nats
import orjson
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from sqlalchemy import text

from aiaas.db import admin_session, create_engine, session_factory
from aiaas.events import EventEnvelope, event_id
from aiaas.events.schemas import USAGE_RECORDED, UsageRecorded
from aiaas.settings import AdminDatabaseSettings, ServiceSettings
from aiaas.tenancy import create_api_key, create_tenant

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
STREAM = f"BENCH_METERING_{uuid.uuid4().hex[:8].upper()}"
SUBJECT_PREFIX = f"bench.{STREAM.lower()}.usage.recorded"
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-sonnet", "other-model")


def _data(key_id: uuid.UUID, request_id: str, model: str, now: str) -> dict[str, object]:
    return {
        "request_id": request_id,
        "api_key_id": str(key_id),
        "model_alias": model,
        "provider": "sim",
        "deployment": "d1",
        "upstream_model": model,
        "stream": False,
        "status": "success",
        "http_status": 200,
        "error_code": None,
        "tokens_in": 400,
        "tokens_out": 150,
        "cost_usd": "0.0012",
        "latency_ms": 12.0,
        "ttft_ms": None,
        "attempts": 1,
        "started_at": now,
        "completed_at": now,
    }


async def _tenants(admin_sessions, count: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Fresh tenants: half on 'enterprise', half on 'free' with prepaid credit (so overage debits run)."""
    out = []
    async with admin_session(admin_sessions) as session:
        for n in range(count):
            slug = f"bench-meter-{uuid.uuid4().hex[:10]}"
            tenant = await create_tenant(session, name=f"Bench {slug}", slug=slug)
            key, _ = await create_api_key(session, tenant_id=tenant.id, name="bench", scopes=["chat"])
            now = datetime.now(UTC)
            start = datetime(now.year, now.month, 1, tzinfo=UTC)
            end = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
            plan = "enterprise" if n % 2 == 0 else "free"
            await session.execute(
                text(
                    "insert into subscriptions (tenant_id, plan_code, current_period_start, current_period_end,"
                    " plan_since) values (:t, :p, :s, :e, :s)"
                ),
                {"t": tenant.id, "p": plan, "s": start, "e": end},
            )
            if plan == "free":
                await session.execute(
                    text(
                        "insert into credit_ledger (tenant_id, amount_minor, balance_after_minor, reason,"
                        " idempotency_key) values (:t, 100000000, 100000000, 'top_up', 'top_up:bench')"
                    ),
                    {"t": tenant.id},
                )
            out.append((tenant.id, key.id))
    return out


def _cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (and the children it waited for) from /proc, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _check_envelope(payload: bytes) -> None:
    envelope = EventEnvelope.from_json(payload)
    UsageRecorded.model_validate(envelope.data)


async def _publish(nc, tenants, rate: int, duration_s: float) -> int:
    """Publish at `rate` events/s in 10 ms ticks, each tick's events concurrently; returns how many."""
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    sent = 0
    start = time.monotonic()
    n_ticks = int(duration_s / tick)
    for i in range(n_ticks):
        target = start + i * tick
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        now = datetime.now(UTC)
        now_text = now.isoformat()
        for j in range(per_tick):
            tenant_id, key_id = tenants[(sent + j) % len(tenants)]
            request_id = f"bench-{uuid.uuid4().hex}"
            envelope_id = str(event_id(USAGE_RECORDED, request_id))
            # orjson rather than EventEnvelope(...): the publisher must not be the bottleneck; the first
            # envelope of the run is validated by the real models (see _check_envelope).
            payload = orjson.dumps(
                {
                    "id": envelope_id,
                    "type": USAGE_RECORDED,
                    "tenant_id": str(tenant_id),
                    "occurred_at": now_text,
                    "trace": {},
                    "data": _data(key_id, request_id, MODELS[(sent + j) % len(MODELS)], now_text),
                }
            )
            if sent == 0 and j == 0:
                _check_envelope(payload)
            # Core NATS publish to the stream's subject: JetStream stores it all the same, but the load
            # generator does not wait for a PubAck per message (that would need a core of its own).
            # Nothing is assumed: the run ends only when every published event is in the ledger.
            await nc.publish(f"{SUBJECT_PREFIX}.{tenant_id}", payload, headers={"Nats-Msg-Id": envelope_id})
        await nc.flush()
        sent += per_tick
    return sent


async def _ledger_count(admin_sessions, ids) -> int:
    async with admin_session(admin_sessions) as session:
        return int(
            (
                await session.execute(
                    text("select count(*) from usage_ledger where tenant_id = any(:ids)"), {"ids": ids}
                )
            ).scalar_one()
        )


class _BenchSettings(AdminDatabaseSettings, ServiceSettings):
    """The bench seeds tenants and counts their ledger rows across tenants: it needs ADMIN_DATABASE_URL."""


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    settings = _BenchSettings()
    engine = create_engine(settings.admin_database_url, pool_size=2, application_name="bench-metering")
    admin_sessions = session_factory(engine)
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    durable = f"bench-meter-{uuid.uuid4().hex[:8]}"
    try:
        await js.delete_stream(STREAM)
    except NotFoundError:
        pass
    await js.add_stream(
        StreamConfig(
            name=STREAM,
            subjects=[f"{SUBJECT_PREFIX}.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=3600,
            duplicate_window=120,
        )
    )
    tenants = await _tenants(admin_sessions, args.tenants)
    ids = [t for t, _ in tenants]
    env = {
        **os.environ,
        "BILLING_METER_STREAM": STREAM,
        "BILLING_METER_DURABLE": durable,
        "BILLING_METER_FILTER_SUBJECT": f"{SUBJECT_PREFIX}.>",
        "BILLING_METER_METRICS_PORT": "0",
        "BILLING_RUN_OUTBOX_RELAY": "false",
        "BILLING_METER_BATCH_SIZE": str(args.batch_size),
        "BILLING_METER_RUNNERS": str(args.runners),
        "LOG_LEVEL": "WARNING",
    }
    pinned = bool(shutil.which("taskset")) and (os.cpu_count() or 1) > 1
    cmd = [sys.executable, "-m", "billing.meter"]
    if pinned:
        cmd = ["taskset", "-c", "1", *cmd]
        os.sched_setaffinity(0, {0})
    log_path = RESULTS / "metering-meter.log"
    RESULTS.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        meter = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        await asyncio.sleep(3)  # the meter connects and creates its consumer
        if meter.poll() is not None:
            raise SystemExit(f"meter exited early, see {log_path}")
        t0 = time.monotonic()
        cpu0, load0 = _cpu_seconds(meter.pid), os.getloadavg()[0]
        published = await _publish(nc, tenants, args.rate, args.duration_s)
        publish_s = time.monotonic() - t0
        deadline = time.monotonic() + 120
        committed = 0
        while time.monotonic() < deadline:
            committed = await _ledger_count(admin_sessions, ids)
            if committed >= published:
                break
            await asyncio.sleep(0.2)
        cpu1, load1 = _cpu_seconds(meter.pid), os.getloadavg()[0]
        async with admin_session(admin_sessions) as session:
            row = (
                await session.execute(
                    text(
                        """
                        select count(*) as n,
                            extract(epoch from max(created_at) - min(created_at)) as span_s,
                            percentile_cont(0.5) within group (order by extract(epoch from created_at - occurred_at))
                                as p50,
                            percentile_cont(0.99) within group (order by extract(epoch from created_at - occurred_at))
                                as p99,
                            max(extract(epoch from created_at - occurred_at)) as max_lag
                        from usage_ledger where tenant_id = any(:ids)
                        """
                    ),
                    {"ids": ids},
                )
            ).one()
            counters = (
                await session.execute(
                    text(
                        "select coalesce(sum(quantity), 0) from usage_counters"
                        " where tenant_id = any(:ids) and meter = 'requests'"
                    ),
                    {"ids": ids},
                )
            ).scalar_one()
            # The benchmark's billing.usage.metered rows must not reach the shared BILLING stream.
            await session.execute(
                text("delete from event_outbox where tenant_id = any(:ids) and published_at is null"), {"ids": ids}
            )
        # What another process's outbox relay published meanwhile is purged again (subjects of bench tenants only).
        for tenant_id in ids:
            for event_type in ("billing.usage.metered", "billing.quota.threshold_reached"):
                await js.purge_stream("BILLING", subject=f"{event_type}.{tenant_id}")
    finally:
        meter.terminate()
        try:
            meter.wait(20)
        except subprocess.TimeoutExpired:
            meter.kill()
        try:
            await js.delete_stream(STREAM)
        except NotFoundError:
            pass
        await nc.close()
        await engine.dispose()
    span = float(row.span_s or 0)
    return {
        "benchmark": "billing-metering",
        "timestamp": datetime.now(UTC).isoformat(),
        "quick": args.quick,
        "target_rate_eps": args.rate,
        "duration_s": args.duration_s,
        "tenants": args.tenants,
        "meter_batch_size": args.batch_size,
        "meter_runners": args.runners,
        "meter_concurrency": int(os.environ.get("BILLING_METER_CONCURRENCY", "4")),
        "otel_traces_sampler": os.environ.get("OTEL_TRACES_SAMPLER", "(default: record every span)"),
        "meter_pinned_to_core_1": pinned,
        "cpu_count": os.cpu_count(),
        "published": published,
        "publish_rate_eps": round(published / publish_s, 1),
        "committed_rows": int(row.n),
        "request_counters": int(counters),
        "committed_eps": round(int(row.n) / span, 1) if span else None,
        # Contention-independent capacity: events metered per CPU-second of the meter process
        # (other people's work shares this machine; the load average says how much).
        "meter_cpu_s": round(cpu1 - cpu0, 2),
        "events_per_meter_cpu_s": round(int(row.n) / (cpu1 - cpu0), 1) if cpu1 > cpu0 else None,
        "load_avg_1m_start_end": [round(load0, 2), round(load1, 2)],
        "lag_p50_s": round(float(row.p50), 4) if row.p50 is not None else None,
        "lag_p99_s": round(float(row.p99), 4) if row.p99 is not None else None,
        "lag_max_s": round(float(row.max_lag), 4) if row.max_lag is not None else None,
        "targets": {"committed_eps": 5000, "lag_p99_s": 1.0},
        "notes": "outbox relay disabled in the meter during the run; lag measured at ledger insert",
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="benchmarks/metering.py")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rate", type=int, default=None, help="events/s to publish")
    parser.add_argument("--duration-s", type=float, default=None)
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--runners", type=int, default=1, help="BILLING_METER_RUNNERS of the meter")
    args = parser.parse_args()
    args.rate = args.rate or (3000 if args.quick else 6000)
    args.duration_s = args.duration_s or (8.0 if args.quick else 30.0)
    result = asyncio.run(main_async(args))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    payload = json.dumps(result, indent=2)
    (RESULTS / f"metering-{stamp}.json").write_text(payload)
    (RESULTS / "metering-latest.json").write_text(payload)
    print(payload)


if __name__ == "__main__":
    main()
