"""Least privilege: each process holds only its database roles (aiaas.roles.PROCESS_ROLES, the one table).

The table is checked against what `make dev` runs, docker-compose.yml, .env.example and the README;
the tenant-facing services (and the admin listeners, and the per-tenant workers on a private NATS) are
started as real processes with the env `make dev` gives them, and Postgres itself (pg_stat_activity, read
as superuser and matched by client port) shows which role each of their connections logged in as.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import nats
import psutil
import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from aiaas import clock
from aiaas.db import admin_session, create_engine
from aiaas.events import EventPublisher, ensure_topology
from aiaas.roles import DSN_ROLES, PROCESS_ROLES, process_env
from aiaas.settings import ServiceSettings
from aiaas_testing import InfraUrls, NatsServer, ServiceProcess, TenantWithKey, free_port
from aiaas_testing.events import usage_recorded
from analytics.config import AnalyticsSettings
from billing.config import BillingSettings
from gateway.config import GatewaySettings
from ingestion.config import IngestionSettings
from orchestrator.config import OrchestratorSettings
from realtime.config import RealtimeSettings
from router.config import RouterSettings

ROOT = Path(__file__).resolve().parent.parent
TENANT_FACING = {name for name, roles in PROCESS_ROLES.items() if roles.tenant_facing}
# Tenant-facing process -> (module, a GET it answers for a tenant key with every scope).
HTTP_PROCESSES = {
    "gateway": ("gateway", "/v1/models"),
    "billing": ("billing", "/v1/billing/balance"),
    "analytics": ("analytics", "/v1/analytics/kpis?start=2026-01-01&end=2026-01-02&granularity=day"),
    "realtime": ("realtime", None),
    "router": ("router", "/v1/router/policy"),
    "ingestion": ("ingestion", "/v1/ingestion/documents"),
    "orchestrator": ("orchestrator", "/v1/orchestrator/runs"),
    "billing_admin": ("billing.admin", None),
    "analytics_admin": ("analytics.admin", None),
    "router_admin": ("router.admin", None),
}
_LOCAL_SUPERUSER = "postgresql://postgres:postgres@127.0.0.1:55432/postgres"


def _dsns(env: dict[str, str]) -> set[str]:
    return {name for name in env if name in DSN_ROLES}


def test_the_tenant_facing_processes_are_the_seven_public_apis() -> None:
    assert TENANT_FACING == {"gateway", "billing", "analytics", "realtime", "router", "ingestion", "orchestrator"}
    for name in TENANT_FACING:
        assert PROCESS_ROLES[name].dsns == ("DATABASE_URL",), name
    assert all("ADMIN_DATABASE_URL" not in roles.dsns for name, roles in PROCESS_ROLES.items() if name in TENANT_FACING)


def test_no_settings_class_of_a_tenant_facing_process_reads_the_admin_dsn(monkeypatch) -> None:
    monkeypatch.setenv("ADMIN_DATABASE_URL", "postgresql+asyncpg://platform_admin:x@db:5432/aiaas")
    for settings in (
        ServiceSettings,
        GatewaySettings,
        BillingSettings,
        AnalyticsSettings,
        RealtimeSettings,
        RouterSettings,
        IngestionSettings,
        OrchestratorSettings,
    ):
        assert "admin_database_url" not in settings.model_fields, settings
        assert "platform_admin" not in json.dumps(settings().model_dump(mode="json")), settings


def test_make_dev_runs_exactly_the_declared_processes_each_with_its_roles() -> None:
    code = (
        "import json, sys; sys.path.insert(0, 'deploy/local');"
        "from local_infra.apps import app_processes; from local_infra.config import LocalConfig;"
        "print(json.dumps([app.name for app in app_processes(LocalConfig.from_env())]))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    names = json.loads(out)
    assert set(names) == set(PROCESS_ROLES) - {"migrate"}
    # What dev.py hands each app: the full infrastructure env filtered by the table.
    full = {name: f"postgresql://{role}@db/aiaas" for name, role in DSN_ROLES.items()} | {"NATS_URL": "nats://n"}
    for name in names:
        env = process_env(name, full)
        assert _dsns(env) == set(PROCESS_ROLES[name].dsns), name
        assert env["NATS_URL"] == "nats://n"
    dev = (ROOT / "deploy/local/dev.py").read_text()
    assert "app.start(cfg, process_env(app.name, env))" in dev


def test_compose_gives_each_service_only_its_roles() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    ours = {name: svc for name, svc in compose["services"].items() if "build" in svc}
    assert {name.replace("-", "_") for name in ours} == set(PROCESS_ROLES)
    for name, svc in ours.items():
        env = svc.get("environment") or {}
        assert _dsns(env) == set(PROCESS_ROLES[name.replace("-", "_")].dsns), name
    for name in TENANT_FACING:
        assert "ADMIN_DATABASE_URL" not in (ours[name.replace("_", "-")].get("environment") or {}), name
    # Each URL names the role its variable stands for.
    for name, svc in ours.items():
        for var, url in (svc.get("environment") or {}).items():
            if var in DSN_ROLES and var != "PG_SUPERUSER_URL":
                assert urlsplit(url).username == DSN_ROLES[var], (name, var)


def _table_rows(lines: list[str], first: str) -> dict[str, list[str]]:
    start = next(i for i, line in enumerate(lines) if first in line) + 1
    rows = {}
    for line in lines[start:]:
        cells = line.lstrip("#").split()
        if not line.startswith("#   ") or not cells:
            break
        rows[cells[0]] = cells[1:]
    return rows


def test_env_example_table_is_the_declared_one() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    rows = _table_rows(lines, "process              tenant-facing  database URLs")
    assert set(rows) == set(PROCESS_ROLES)
    for name, (facing, *dsns) in rows.items():
        roles = PROCESS_ROLES[name]
        assert (facing == "yes") == roles.tenant_facing, name
        assert (set(dsns) - {"-"}) == set(roles.dsns), name


def test_readme_table_is_the_declared_one() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Which process holds which role", 1)[1]
    rows = re.findall(r"^\| (\w+) \| (yes|no) \| (yes|no) \| (yes|no) \|", section, re.MULTILINE)
    assert {row[0] for row in rows} == set(PROCESS_ROLES) - {"provider_sim", "stripe_sim", "toolbox", "migrate"}
    for name, facing, runtime, admin in rows:
        roles = PROCESS_ROLES[name]
        assert (facing == "yes", runtime == "yes", admin == "yes") == (
            roles.tenant_facing,
            "DATABASE_URL" in roles.dsns,
            "ADMIN_DATABASE_URL" in roles.dsns,
        ), name


# ---- real processes ----------------------------------------------------------------------------


def _superuser_url() -> str:
    url = urlsplit(os.environ.get("PG_SUPERUSER_URL", _LOCAL_SUPERUSER))
    return url._replace(scheme="postgresql+asyncpg", path="/aiaas").geturl()


def _everything(infra_urls: InfraUrls, **overrides: str) -> dict[str, str]:
    """Every DSN and setting, as `make dev` has them before it filters them per process."""
    return {
        **os.environ,
        "DATABASE_URL": infra_urls.database_url,
        "ADMIN_DATABASE_URL": infra_urls.admin_database_url,
        "MIGRATION_DATABASE_URL": "postgresql+asyncpg://aiaas_owner:aiaas_owner@127.0.0.1:55432/aiaas",
        "PG_SUPERUSER_URL": os.environ.get("PG_SUPERUSER_URL", _LOCAL_SUPERUSER),
        "NATS_URL": infra_urls.nats_url,
        "REDIS_URL": infra_urls.redis_url,
        "GATEWAY_USAGE_WAL_DIR": tempfile.mkdtemp(prefix="roles-wal-"),
        "GATEWAY_USAGE_WRITER_METRICS_PORT": "0",
        "ANALYTICS_CONSUMER_METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
        **overrides,
    }


async def _connected_as(engine: AsyncEngine, proc: ServiceProcess) -> set[str]:
    """The roles of `proc`'s open Postgres connections, as pg_stat_activity (read as superuser) shows them."""
    assert proc.proc is not None
    pg_port = urlsplit(_superuser_url()).port or 5432
    ports = [
        conn.laddr.port
        for conn in psutil.Process(proc.proc.pid).net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == pg_port
    ]
    if not ports:
        return set()
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("select usename from pg_stat_activity where client_port = any(:ports)"), {"ports": ports}
        )
        return {row.usename for row in rows}


@pytest.fixture(scope="module")
def started(
    tmp_path_factory: pytest.TempPathFactory, infra_urls: InfraUrls
) -> Iterator[dict[str, tuple[ServiceProcess, str]]]:
    """name -> (process, base URL): each started with `process_env(name, everything)` and nothing inherited."""
    run_dir = tmp_path_factory.mktemp("roles")
    everything = _everything(infra_urls)
    procs: dict[str, tuple[ServiceProcess, str]] = {}
    try:
        for name, (module, _) in HTTP_PROCESSES.items():
            url = f"http://127.0.0.1:{free_port()}"
            proc = ServiceProcess(
                ["-m", module, "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1]],
                env=process_env(name, everything),
                inherit_env=False,
                log_path=run_dir / f"{name}.log",
                ready_url=f"{url}/health/ready",
            )
            procs[name] = (proc.start(), url)
            if name == "gateway":
                # Realtime is ready only while the gateway it streams from answers.
                everything["REALTIME_GATEWAY_URL"] = url
        yield procs
    finally:
        for proc, _ in procs.values():
            proc.stop()


def test_each_process_is_started_with_only_its_roles_dsns(started: dict[str, tuple[ServiceProcess, str]]) -> None:
    for name, (proc, _) in started.items():
        assert proc.proc is not None
        environ = psutil.Process(proc.proc.pid).environ()
        assert _dsns(environ) == set(PROCESS_ROLES[name].dsns), name
        if name in TENANT_FACING:
            assert not any("platform_admin" in value for value in environ.values()), name


async def test_tenant_facing_processes_connect_only_as_app_runtime(
    started: dict[str, tuple[ServiceProcess, str]], make_tenant
) -> None:
    tenant: TenantWithKey = await make_tenant()
    async with aiohttp.ClientSession() as http:
        for name, (_, path) in HTTP_PROCESSES.items():
            if path is not None:  # a key lookup and a tenant transaction, not just the readiness ping
                async with http.get(started[name][1] + path, headers=tenant.auth) as resp:
                    assert resp.status == 200, (name, await resp.text())
    engine = create_engine(_superuser_url(), pool_size=1)
    try:
        for name, (proc, _) in started.items():
            users = await _connected_as(engine, proc)
            assert users, f"{name} holds no Postgres connection"
            assert users <= set(PROCESS_ROLES[name].roles), (name, users)
            if name in TENANT_FACING:
                assert users == {"app_runtime"}, (name, users)
        # Every connection any tenant-facing process has open on this database (these and any other test's),
        # by the application_name each sets: app_runtime only.
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "select distinct application_name, usename from pg_stat_activity where application_name = any(:n)"
                ),
                {"n": sorted(TENANT_FACING)},
            )
            by_app = {(row.application_name, row.usename) for row in rows}
        assert {app for app, _ in by_app} == TENANT_FACING
        assert {user for _, user in by_app} == {"app_runtime"}, by_app
    finally:
        await engine.dispose()


async def test_app_runtime_cannot_bypass_tenant_policies_and_owns_nothing() -> None:
    engine = create_engine(_superuser_url(), pool_size=1)
    try:
        async with engine.connect() as conn:
            role = (
                await conn.execute(
                    text("select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles where rolname = :r"),
                    {"r": "app_runtime"},
                )
            ).one()
            assert tuple(role) == (False, False, False, False)
            owned = (
                await conn.execute(
                    text(
                        "select (select count(*) from pg_class where relowner = r.oid)"
                        " + (select count(*) from pg_proc where proowner = r.oid)"
                        " + (select count(*) from pg_namespace where nspowner = r.oid)"
                        " + (select count(*) from pg_type where typowner = r.oid)"
                        " from pg_roles r where r.rolname = 'app_runtime'"
                    )
                )
            ).scalar_one()
            assert owned == 0
            # Nor is it a member of a role that could (platform_admin, the owner, key_resolver).
            members = (
                await conn.execute(
                    text(
                        "select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid"
                        " join pg_roles u on u.oid = m.member where u.rolname = 'app_runtime'"
                    )
                )
            ).all()
            assert members == []
    finally:
        await engine.dispose()


async def test_workers_write_each_event_under_its_tenant_as_app_runtime(
    tmp_path: Path, infra_urls: InfraUrls, make_tenant, admin_sessions
) -> None:
    """The usage writer and the analytics consumer, on a NATS of their own, write one event as app_runtime."""
    nats_server = NatsServer(tmp_path / "nats").start()
    env = _everything(infra_urls, NATS_URL=nats_server.url)
    workers = {
        name: ServiceProcess(
            ["-m", module], env=process_env(name, env), inherit_env=False, log_path=tmp_path / f"{name}.log"
        )
        for name, module in (("usage_writer", "gateway.usage_writer"), ("analytics_consumer", "analytics.consumer"))
    }
    engine = create_engine(_superuser_url(), pool_size=1)
    try:
        for proc in workers.values():
            proc.start()
        tenant: TenantWithKey = await make_tenant()
        now = clock.now().astimezone(UTC)
        request_id = f"req-roles-{uuid.uuid4().hex}"
        envelope = usage_recorded(
            tenant.id,
            tenant.key_id,
            model="roles",
            tokens_in=3,
            tokens_out=4,
            cost_usd="0.0001",
            latency_ms=5.0,
            request_id=request_id,
            deployment="roles-a",
            started_at=now,
            completed_at=now,
        )
        nc = await nats.connect(nats_server.url)
        try:
            await ensure_topology(nc.jetstream(), consumers=())
            await EventPublisher(nc.jetstream()).publish(envelope)
        finally:
            await nc.close()

        async def written() -> tuple[int, int]:
            async with admin_session(admin_sessions) as session:
                requests = (
                    await session.execute(
                        text("select count(*) from requests where request_id = :r"), {"r": request_id}
                    )
                ).scalar_one()
                rollups = (
                    await session.execute(
                        text("select count(*) from analytics_usage_rollups where tenant_id = :t"), {"t": tenant.id}
                    )
                ).scalar_one()
            return int(requests), int(rollups)

        deadline = asyncio.get_running_loop().time() + 60
        while min(await written()) < 1:  # the requests row (usage writer) and a rollup (analytics consumer)
            assert asyncio.get_running_loop().time() < deadline, await written()
            await asyncio.sleep(0.2)
        for name, proc in workers.items():
            assert proc.proc is not None
            assert _dsns(psutil.Process(proc.proc.pid).environ()) == {"DATABASE_URL"}, name
            assert await _connected_as(engine, proc) == {"app_runtime"}, name
    finally:
        await engine.dispose()
        for proc in workers.values():
            proc.stop()
        nats_server.stop()
