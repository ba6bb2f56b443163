"""System under test (c): local infra, gateway on the server core, usage writer, a bench tenant + key."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import nats
from procs import LOAD_CORE, SERVER_CORE, ProcessSet, free_port, wait_http

__all__ = [
    "GatewayRun",
    "count_metered_rows",
    "create_bench_tenant",
    "infra_env",
    "prepare_database",
    "start_gateway",
    "summarise_log",
]

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python")

_ENV_DEFAULTS = {
    "PG_SUPERUSER_URL": "postgresql://postgres:postgres@127.0.0.1:55432/postgres",
    "MIGRATION_DATABASE_URL": "postgresql+asyncpg://aiaas_owner:aiaas_owner@127.0.0.1:55432/aiaas",
}
# Effectively unlimited for a benchmark. RPM is the admin API's ceiling; TPM stays inside int4 because
# tenants.rate_limit_tpm is an int4 column (the API's own ceiling, 1e10, fails with a 500).
TENANT_RPM = 10_000_000
TENANT_TPM = 2_000_000_000
# A plan quota the bench never reaches, so the gateway runs its quota check with a hash present (billing
# may have subscribed the tenant to a plan whose quota a benchmark would use up in seconds).
BENCH_QUOTA = {"token_limit": 10**15, "request_limit": 10**12}


@dataclass
class GatewayRun:
    """A running gateway: where it listens, its pid, and the bench tenant's API key."""

    base_url: str
    pid: int
    api_key: str
    tenant_id: str
    usage_writer_pid: int
    tracing: str


def infra_env() -> dict[str, str]:
    """`infra.py up`, then the URLs `infra.py env` prints; variables already exported win."""
    infra = [PYTHON, str(ROOT / "deploy" / "local" / "infra.py")]
    subprocess.run([*infra, "up"], check=True, cwd=ROOT)
    out = subprocess.run([*infra, "env"], check=True, capture_output=True, text=True, cwd=ROOT).stdout
    env = dict(_ENV_DEFAULTS)
    for line in out.splitlines():
        if line.startswith("export ") and "=" in line:
            key, _, value = line[len("export ") :].partition("=")
            env[key.strip()] = value.strip().strip("'\"")
    env.update({k: os.environ[k] for k in env if os.environ.get(k)})
    return env


def prepare_database(env: dict[str, str]) -> None:
    """Idempotent: roles and database, then the schema at head."""
    full = {**os.environ, **env}
    for command in ("bootstrap", "migrate"):
        subprocess.run([PYTHON, "-m", "data_plane", command], check=True, env=full, cwd=ROOT)


def _models_yaml(upstream: str) -> str:
    price = 'input_usd_per_1k: "0.5", output_usd_per_1k: "1.5"'
    return (
        "aliases:\n"
        "  - name: bench\n"
        f"    deployments: [{{name: nginx-json, provider: openai, model: bench-model, "
        f'base_url: "{upstream}/v1", {price}}}]\n'
        "  - name: bench-stream\n"
        f"    deployments: [{{name: nginx-sse, provider: openai, model: bench-model, "
        f'base_url: "{upstream}/sse/v1", {price}}}]\n'
    )


def create_bench_tenant(env: dict[str, str], name: str, slug_prefix: str, scopes: list[str]) -> tuple[str, str]:
    """A tenant with the bench's limits and one API key, made as platform_admin (the bench's setup, not a
    measured path); returns (tenant id, API key)."""
    from aiaas.db import admin_session, create_engine, session_factory
    from aiaas.tenancy import create_api_key, create_tenant

    async def _create() -> tuple[str, str]:
        engine = create_engine(env["ADMIN_DATABASE_URL"], pool_size=1)
        try:
            async with admin_session(session_factory(engine)) as session:
                tenant = await create_tenant(
                    session,
                    name=name,
                    slug=f"{slug_prefix}-{secrets.token_hex(4)}",
                    rate_limit_rpm=TENANT_RPM,
                    rate_limit_tpm=TENANT_TPM,
                )
                _, key = await create_api_key(session, tenant_id=tenant.id, name="bench", scopes=scopes)
            return str(tenant.id), key.plaintext
        finally:
            await engine.dispose()

    return asyncio.run(_create())


def start_gateway(
    procs: ProcessSet, workdir: Path, env: dict[str, str], upstream: str, tracing: str = "none"
) -> GatewayRun:
    """Gateway on the server core, usage writer on the load core; wait for ready; create tenant + key."""
    models = workdir / "bench-models.yaml"
    models.write_text(_models_yaml(upstream))
    port = free_port()
    child_env = {
        **os.environ,
        **env,
        "GATEWAY_MODELS_FILE": str(models),
        "GATEWAY_USAGE_WRITER_METRICS_PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
        "OTEL_TRACES_EXPORTER": tracing,
        "PYTHONUNBUFFERED": "1",
    }
    writer, writer_log = procs.start(
        "usage-writer", [PYTHON, "-m", "gateway.usage_writer"], LOAD_CORE, env=child_env, cwd=workdir
    )
    gateway, log = procs.start(
        "gateway",
        [PYTHON, "-m", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        SERVER_CORE,
        env=child_env,
        cwd=workdir,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/health/ready", timeout_s=90, proc=gateway, log=log)
    wait_http(
        f"http://127.0.0.1:{child_env['GATEWAY_USAGE_WRITER_METRICS_PORT']}/metrics",
        timeout_s=60,
        proc=writer,
        log=writer_log,
    )
    tenant_id, api_key = create_bench_tenant(env, "Bench", "bench", ["chat"])
    asyncio.run(subscribe_unlimited_plan(env, tenant_id))
    asyncio.run(set_bench_quota(env["REDIS_URL"], tenant_id))
    return GatewayRun(
        base_url=base,
        pid=gateway.pid,
        api_key=api_key,
        tenant_id=tenant_id,
        usage_writer_pid=writer.pid,
        tracing=tracing,
    )


_UNLIMITED_PLAN = """
    insert into subscriptions (tenant_id, plan_code, current_period_start, current_period_end, plan_since)
    values ($1::uuid, 'enterprise', date_trunc('month', now()), date_trunc('month', now()) + interval '1 month', now())
    on conflict (tenant_id) do update set plan_code = 'enterprise'
"""


async def subscribe_unlimited_plan(env: dict[str, str], tenant_id: str) -> None:
    """Put the bench tenant on billing's 'enterprise' plan (no request limit, overage billed, no hard cap).

    A running billing meter subscribes every metered tenant to 'free' and publishes that plan's quota
    (1,000 requests), which would block the benchmark within seconds. Skipped without billing's tables.
    """
    import asyncpg

    conn = await asyncpg.connect(env["ADMIN_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(_UNLIMITED_PLAN, tenant_id)
    except asyncpg.UndefinedTableError:
        pass
    finally:
        await conn.close()


async def set_bench_quota(redis_url: str, tenant_id: str) -> None:
    """Publish BENCH_QUOTA for the bench tenant the way billing does (aiaas.quota.reconcile)."""
    import redis.asyncio as redis_asyncio

    from aiaas.quota import QuotaState, reconcile

    client = redis_asyncio.from_url(redis_url)
    try:
        state = QuotaState("bench", BENCH_QUOTA["token_limit"], BENCH_QUOTA["request_limit"], 0, 0, 0, "bench")
        await reconcile(client, tenant_id, state)
    finally:
        await client.aclose()


async def _count_rows(dsn: str, tenant_id: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("select count(*) from requests where tenant_id = $1::uuid", tenant_id))
    finally:
        await conn.close()


def count_metered_rows(env: dict[str, str], tenant_id: str, expected_at_least: int, wait_s: float = 60) -> int:
    """Rows the usage writer committed for the tenant; waits until `expected_at_least` or no progress."""
    dsn = env["ADMIN_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    deadline = time.monotonic() + wait_s
    previous, stalled = -1, 0
    while True:
        rows = asyncio.run(_count_rows(dsn, tenant_id))
        if rows >= expected_at_least or time.monotonic() > deadline:
            return rows
        stalled = stalled + 1 if rows == previous else 0
        if stalled >= 5:  # no progress for ~10 s: the writer has caught up with what it will ever get
            return rows
        previous = rows
        time.sleep(2)


def purge_bench_events(env: dict[str, str], tenant_id: str) -> int:
    """Drop the bench tenant's usage events from the USAGE stream once the usage writer has them.

    The bench runs no billing meter or analytics consumer; left in the stream, a few hundred thousand bench
    events would be their backlog on this shared infrastructure (a `make test` after `make bench` would
    wait for the billing meter to chew through them). Returns how many messages were purged.
    """

    async def purge() -> int:
        nc = await nats.connect(env["NATS_URL"])
        try:
            js = nc.jetstream()
            before = (await js.stream_info("USAGE")).state.messages
            await js.purge_stream("USAGE", subject=f"usage.recorded.{tenant_id}")
            return before - (await js.stream_info("USAGE")).state.messages
        finally:
            await nc.close()

    return asyncio.run(purge())


def summarise_log(path: Path, distinct: int = 5) -> dict:
    """Counts of WARNING/ERROR lines in a JSON-lines service log and the first distinct messages of each."""
    counts = {"WARNING": 0, "ERROR": 0, "CRITICAL": 0}
    examples: dict[str, list[str]] = {level: [] for level in counts}
    if not path.exists():
        return {"missing": str(path)}
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        level = record.get("level") if isinstance(record, dict) else None
        if level not in counts:
            continue
        counts[level] += 1
        exc = (record.get("exc") or "").strip().splitlines()
        message = f"{record.get('logger')}: {record.get('msg')}" + (f" | {exc[-1]}" if exc else "")
        if message not in examples[level] and len(examples[level]) < distinct:
            examples[level].append(message[:400])
    return {"counts": counts, "examples": {k: v for k, v in examples.items() if v}, "path": str(path)}
