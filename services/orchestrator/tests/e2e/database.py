"""A throwaway database for the e2e stack, bootstrapped and migrated like the real one (as aiaas_testing.fuzz_stack
makes its own): the ORCH stream and the outbox are shared by whoever runs a worker or an outbox relay on the same
database and NATS, so a stack on the shared ones could see its runs taken, or its outbox rows relayed elsewhere, by
another test session's processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from aiaas_testing import InfraUrls
from aiaas_testing.infra import owner_database_url

ROOT = Path(__file__).resolve().parents[4]
_SUPERUSER = "postgresql://postgres:postgres@127.0.0.1:55432/postgres"


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@dataclass(frozen=True)
class E2EDatabase:
    name: str
    infra: InfraUrls  # the throwaway database's URLs (NATS and Redis as given)
    owner_url: str

    @classmethod
    def create(cls, shared: InfraUrls) -> E2EDatabase:
        name = f"aiaas_orch_e2e_{uuid.uuid4().hex[:8]}"
        infra = InfraUrls(
            database_url=_with_database(shared.database_url, name),
            admin_database_url=_with_database(shared.admin_database_url, name),
            nats_url=shared.nats_url,
            redis_url=shared.redis_url,
        )
        db = cls(name, infra, _with_database(owner_database_url(), name))
        env = {
            **os.environ,
            "DATABASE_URL": infra.database_url,
            "ADMIN_DATABASE_URL": infra.admin_database_url,
            "MIGRATION_DATABASE_URL": db.owner_url,
        }
        for step in ("bootstrap", "migrate"):
            done = subprocess.run(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "data_plane", step],
                env=env,
                cwd=ROOT,
                timeout=300,
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, f"data_plane {step} failed:\n{done.stderr[-3000:]}"
        return db

    async def drop(self) -> None:
        conn = await asyncpg.connect(os.environ.get("PG_SUPERUSER_URL", _SUPERUSER))
        try:
            await conn.execute(f'drop database if exists "{self.name}" with (force)')
        finally:
            await conn.close()
