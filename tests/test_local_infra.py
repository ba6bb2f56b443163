"""deploy/local/infra.py against real processes: a private instance set, the shared one, and failures.

The private set (own folder, own free ports) is started, reused, stopped and restarted here;
the shared infrastructure other tests use is only ever `up`-ed again, never stopped.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import nats
import psutil
import pytest
import redis.asyncio as redis_asyncio

from aiaas_testing import free_port

ROOT = Path(__file__).resolve().parents[1]
INFRA = [sys.executable, str(ROOT / "deploy" / "local" / "infra.py")]
COMPONENTS = ("postgres", "nats", "redis")
# Empty values override both the shell and .env: the private set must never use a configured server.
NO_CONFIGURED_URLS = {
    name: ""
    for name in (
        "PG_SUPERUSER_URL",
        "DATABASE_URL",
        "ADMIN_DATABASE_URL",
        "MIGRATION_DATABASE_URL",
        "NATS_URL",
        "NATS_MONITOR_URL",
        "REDIS_URL",
    )
}


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie lingers until init reaps it)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _infra(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*INFRA, *args], env=env, capture_output=True, text=True, timeout=180, check=False)


@dataclass(frozen=True)
class PrivateInfra:
    """A project-local instance set in a temporary folder on free ports."""

    local_dir: Path
    env: dict[str, str]
    ports: dict[str, int]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _infra(self.env, *args)

    def pids(self) -> dict[str, int]:
        return {name: int((self.local_dir / "run" / f"{name}.pid").read_text()) for name in COMPONENTS}

    def exported(self) -> dict[str, str]:
        result = self.run("env")
        assert result.returncode == 0, result.stderr
        pairs = (line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines())
        return {key: value.strip("'") for key, value in pairs}


def _private_env(local_dir: Path, **ports: int) -> dict[str, str]:
    overrides = {f"AIAAS_{name.upper()}_PORT": str(port) for name, port in ports.items()}
    return {**os.environ, **NO_CONFIGURED_URLS, "AIAAS_LOCAL_DIR": str(local_dir), **overrides}


@pytest.fixture(scope="module")
def private_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateInfra]:
    local_dir = tmp_path_factory.mktemp("infra") / ".local"
    ports = {"pg": free_port(), "nats": free_port(), "nats_monitor": free_port(), "redis": free_port()}
    infra = PrivateInfra(local_dir, _private_env(local_dir, **ports), ports)
    first = infra.run("up")
    assert first.returncode == 0, first.stderr
    assert first.stderr.count(" started ") == 3, first.stderr
    yield infra
    stopped = infra.run("down")
    assert stopped.returncode == 0, stopped.stderr


def test_up_again_reuses_the_running_instances(private_infra: PrivateInfra) -> None:
    before = private_infra.pids()
    again = private_infra.run("up")
    assert again.returncode == 0, again.stderr
    assert again.stderr.count(" reused ") == 3, again.stderr
    assert private_infra.pids() == before
    assert all(_running(pid) for pid in before.values())


def test_status_reports_every_component_up(private_infra: PrivateInfra) -> None:
    result = private_infra.run("status")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert set(lines) == set(COMPONENTS)
    assert all(state.startswith("up (project-local") for state in lines.values()), lines


def test_env_prints_the_private_urls(private_infra: PrivateInfra) -> None:
    exported = private_infra.exported()
    pg, nats_port, redis_port = (private_infra.ports[name] for name in ("pg", "nats", "redis"))
    assert exported["PG_SUPERUSER_URL"] == f"postgresql://postgres:postgres@127.0.0.1:{pg}/postgres"
    assert exported["DATABASE_URL"] == f"postgresql+asyncpg://app_runtime:app_runtime@127.0.0.1:{pg}/aiaas"
    assert exported["ADMIN_DATABASE_URL"].startswith("postgresql+asyncpg://platform_admin:platform_admin@")
    assert exported["NATS_URL"] == f"nats://127.0.0.1:{nats_port}"
    assert exported["NATS_MONITOR_URL"] == f"http://127.0.0.1:{private_infra.ports['nats_monitor']}"
    assert exported["REDIS_URL"] == f"redis://127.0.0.1:{redis_port}/0"


async def test_postgres_offers_pgvector_with_password_auth(private_infra: PrivateInfra) -> None:
    superuser = private_infra.exported()["PG_SUPERUSER_URL"]
    scratch = f"scratch_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(superuser)
    try:
        tcp_methods = await admin.fetch("select distinct auth_method from pg_hba_file_rules where type = 'host'")
        assert [row["auth_method"] for row in tcp_methods] == ["scram-sha-256"]
        stored = await admin.fetchval("select rolpassword from pg_authid where rolname = 'postgres'")
        assert stored.startswith("SCRAM-SHA-256$")
        await admin.execute(f"create database {scratch}")
        conn = await asyncpg.connect(superuser.rsplit("/", 1)[0] + f"/{scratch}")
        try:
            await conn.execute("create extension if not exists vector")
            distance = await conn.fetchval("select '[1,2,3]'::vector <-> '[1,2,4]'::vector")
            # An HNSW insert and index scan: the wheel's own vector.so died here with SIGILL on a CPU without
            # AVX-512, so infra builds pgvector for the CPU it runs on (local_infra.pgvector).
            await conn.execute("create table items (id int primary key, embedding vector(3))")
            await conn.execute("create index on items using hnsw (embedding vector_cosine_ops)")
            await conn.executemany(
                "insert into items values ($1, $2::vector)", [(i, f"[1,{i},{i % 7}]") for i in range(1, 201)]
            )
            await conn.execute("set enable_seqscan = off")
            nearest = await conn.fetchval("select id from items order by embedding <=> '[1,50,1]' limit 1")
        finally:
            await conn.close()
        await admin.execute(f"drop database {scratch}")
    finally:
        await admin.close()
    assert distance == 1.0
    assert nearest == 50


async def test_nats_has_jetstream_and_monitoring(private_infra: PrivateInfra) -> None:
    exported = private_infra.exported()
    with urllib.request.urlopen(f"{exported['NATS_MONITOR_URL']}/healthz", timeout=5) as resp:
        assert json.loads(resp.read()) == {"status": "ok"}
    with urllib.request.urlopen(f"{exported['NATS_MONITOR_URL']}/jsz", timeout=5) as resp:
        assert "config" in json.loads(resp.read())
    client = await nats.connect(exported["NATS_URL"])
    try:
        info = await client.jetstream().account_info()
    finally:
        await client.close()
    assert info.limits is not None


async def test_redis_answers_ping(private_infra: PrivateInfra) -> None:
    client = redis_asyncio.from_url(private_infra.exported()["REDIS_URL"])
    try:
        assert await client.ping() is True
    finally:
        await client.aclose()


def test_down_stops_only_ours_then_up_starts_again(private_infra: PrivateInfra) -> None:
    before = private_infra.pids()
    stopped = private_infra.run("down")
    assert stopped.returncode == 0, stopped.stderr
    assert not any(_running(pid) for pid in before.values())
    down_status = private_infra.run("status")
    assert down_status.returncode == 3
    assert down_status.stdout.count(" down (project-local") == 3
    again = private_infra.run("up")
    assert again.returncode == 0, again.stderr
    assert again.stderr.count(" started ") == 3, again.stderr


def test_stale_pid_file_is_replaced(tmp_path: Path) -> None:
    local_dir = tmp_path / ".local"
    env = _private_env(local_dir, nats=free_port(), nats_monitor=free_port())
    pidfile = local_dir / "run" / "nats.pid"
    pidfile.parent.mkdir(parents=True)
    pidfile.write_text(f"{os.getpid()}\n")  # alive, but not a nats-server: stale
    try:
        result = _infra(env, "up", "nats")
        assert result.returncode == 0, result.stderr
        assert " started " in result.stderr
        assert int(pidfile.read_text()) != os.getpid()
    finally:
        assert _infra(env, "down", "nats").returncode == 0


@pytest.mark.parametrize(
    ("component", "port_name", "what"),
    [
        ("postgres", "pg", "Postgres"),
        ("nats", "nats", "NATS"),
        ("redis", "redis", "Redis"),
    ],
)
def test_port_taken_by_another_program_fails_clearly(tmp_path: Path, component: str, port_name: str, what: str) -> None:
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        env = _private_env(tmp_path / ".local", **{port_name: port, "nats_monitor": free_port()})
        result = _infra(env, "up", component)
    assert result.returncode == 1
    assert f"Port {port} is in use by pid {os.getpid()}" in result.stderr
    assert f"not this project's {what}" in result.stderr


def test_component_that_cannot_start_fails_with_its_log(tmp_path: Path) -> None:
    port = free_port()  # client and monitoring on one port: nats-server exits at start-up
    env = _private_env(tmp_path / ".local", nats=port, nats_monitor=port)
    result = _infra(env, "up", "nats")
    assert result.returncode == 1
    assert "NATS JetStream exited with code" in result.stderr
    assert "address already in use" in result.stderr
    assert not (tmp_path / ".local" / "run" / "nats.pid").exists()


def test_shared_infrastructure_up_is_idempotent() -> None:
    """The instances this test run uses: `up` twice changes nothing (never stopped here)."""
    first = _infra(dict(os.environ), "up")
    assert first.returncode == 0, first.stderr
    second = _infra(dict(os.environ), "up")
    assert second.returncode == 0, second.stderr
    origins = {line.split()[0]: line.split()[1] for line in second.stderr.splitlines() if " " in line}
    assert {origins[name] for name in COMPONENTS} <= {"reused", "configured"}, second.stderr
    assert _pids_of(first.stderr) == _pids_of(second.stderr)


def _pids_of(output: str) -> dict[str, str]:
    return {line.split()[0]: line.rsplit(" pid ", 1)[1] for line in output.splitlines() if " pid " in line}
