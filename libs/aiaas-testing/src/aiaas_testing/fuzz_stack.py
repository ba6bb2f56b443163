"""The fuzz stack: every HTTP process of the platform on a throwaway state (tests/test_openapi_fuzz.py).

A database of their own (bootstrapped and migrated like the real one), a private NATS and a Redis database index
nobody else uses, so what the fuzzer creates, closes or flips (plans, flags, period closes, tenants) never reaches
the other suites. A tenant with a key holding every scope, and a named admin key made the way an operator makes one.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis
import yaml
from sqlalchemy.engine import make_url

from aiaas.db import admin_session, create_engine, session_factory
from aiaas.roles import process_env
from aiaas.scopes import ALL_SCOPES
from aiaas.tenancy import create_api_key, create_tenant
from aiaas_testing.infra import InfraUrls
from aiaas_testing.processes import ServiceProcess
from aiaas_testing.servers import NatsServer, free_port

__all__ = ["Stack", "fuzz_stack"]

ROOT = Path(__file__).resolve().parents[4]


@dataclass
class Stack:
    urls: dict[str, str] = field(default_factory=dict)
    tenant_headers: dict[str, str] = field(default_factory=dict)
    admin_headers: dict[str, str] = field(default_factory=dict)
    # Path parameters that name something that exists, for half of the cases.
    known_path_values: dict[str, str] = field(default_factory=dict)


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _data_plane(env: dict[str, str], *args: str) -> str:
    """`python -m data_plane ARGS` on the throwaway database: its stdout (its stderr when it fails)."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "data_plane", *args], env=env, cwd=ROOT, timeout=180, capture_output=True, text=True
    )
    assert done.returncode == 0, f"data_plane {' '.join(args)} failed:\n{done.stderr[-3000:]}"
    return done.stdout


async def _seed(admin_url: str) -> tuple[str, str]:
    """A tenant and a key holding every scope, in the throwaway database: (tenant id, key)."""
    engine = create_engine(admin_url, pool_size=1)
    try:
        async with admin_session(session_factory(engine)) as session:
            slug = f"fuzz-{uuid.uuid4().hex[:8]}"
            tenant = await create_tenant(session, name="Fuzz", slug=slug, rate_limit_rpm=None, rate_limit_tpm=None)
            _, new = await create_api_key(
                session,
                tenant_id=tenant.id,
                name="fuzz",
                scopes=list(ALL_SCOPES),
                rpm_limit=None,
                tpm_limit=None,
            )
        return str(tenant.id), new.plaintext
    finally:
        await engine.dispose()


def _models_file(run_dir: Path, sim_url: str) -> Path:
    """One alias on the provider stand-in, so fuzzed chat requests reach an upstream."""
    deployment = {
        "name": "sim",
        "provider": "openai",
        "model": "sim-mini",
        "base_url": f"{sim_url}/v1",
        "input_usd_per_1k": "0.5",
        "output_usd_per_1k": "1.5",
    }
    path = run_dir / "models.yaml"
    path.write_text(yaml.safe_dump({"aliases": [{"name": "gpt-4o-mini", "deployments": [deployment]}]}))
    return path


@contextmanager
def fuzz_stack(
    infra_urls: InfraUrls,
    run_dir: Path,
    services: Sequence[tuple[str, str, str]],
    *,
    redis_db: int,
    webhook_secret: str,
) -> Iterator[Stack]:
    """Start `services` ((process name, module, readiness path)) on a throwaway database; stop and drop after."""
    database = f"aiaas_fuzz_{uuid.uuid4().hex[:8]}"
    migration_url = os.environ.get(
        "MIGRATION_DATABASE_URL", "postgresql+asyncpg://aiaas_owner:aiaas_owner@127.0.0.1:55432/aiaas"
    )
    redis_url = make_url(infra_urls.redis_url).set(database=str(redis_db)).render_as_string(hide_password=False)
    ports = {name: free_port() for name, _, _ in services}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    nats_server = NatsServer(run_dir / "nats").start()
    env = {
        "DATABASE_URL": _with_database(infra_urls.database_url, database),
        "ADMIN_DATABASE_URL": _with_database(infra_urls.admin_database_url, database),
        "MIGRATION_DATABASE_URL": _with_database(migration_url, database),
        "NATS_URL": nats_server.url,
        "REDIS_URL": redis_url,
        "GATEWAY_MODELS_FILE": str(_models_file(run_dir, urls["provider_sim"])),
        "GATEWAY_PROVIDER_SIM_URL": urls["provider_sim"],
        "OPENAI_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
        "STRIPE_API_KEY": "sk_test_fuzz",
        "STRIPE_API_BASE": urls["stripe_sim"],
        "STRIPE_webhook_secret": webhook_secret,
        "REALTIME_GATEWAY_URL": urls["gateway"],
        "LOG_LEVEL": "WARNING",
    }
    full_env = {**os.environ, **env}
    procs: list[ServiceProcess] = []
    try:
        _data_plane(full_env, "bootstrap")
        _data_plane(full_env, "migrate")
        tenant_id, api_key = asyncio.run(_seed(env["ADMIN_DATABASE_URL"]))
        # A named admin key in the throwaway database, made the way an operator makes one.
        admin_key = _data_plane(full_env, "admin-keys", "create", "fuzz-admin", "--created-by", "fuzz").strip()
        for name, module, ready in services:
            proc = ServiceProcess(
                ["-m", module, "--host", "127.0.0.1", "--port", str(ports[name])],
                # Only the DSNs of the process's roles (aiaas.roles), as under `make dev` and in compose.
                env=process_env(name, full_env),
                log_path=run_dir / f"{name}.log",
                ready_url=urls[name] + ready,
                inherit_env=False,
            )
            procs.append(proc.start())
        yield Stack(
            urls=urls,
            tenant_headers={"Authorization": f"Bearer {api_key}"},
            admin_headers={"Authorization": f"Bearer {admin_key}"},
            # The seeded tenant, a plan and a flag the migrations create.
            known_path_values={"tenant_id": tenant_id, "code": "pro", "plan_code": "pro", "key": "max_tokens_cap"},
        )
    finally:
        for proc in reversed(procs):
            proc.stop()
        nats_server.stop()
        redis.Redis.from_url(redis_url).flushdb()
        asyncio.run(_drop_database(database))


async def _drop_database(name: str) -> None:
    url = os.environ.get("PG_SUPERUSER_URL", "postgresql://postgres:postgres@127.0.0.1:55432/postgres")
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()
