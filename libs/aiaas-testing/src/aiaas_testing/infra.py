"""Where the suite's shared Postgres, NATS and Redis are: the environment, else the project-local ports."""

from __future__ import annotations

import os
from dataclasses import dataclass

from aiaas.settings import LOCAL_DEFAULTS

__all__ = ["InfraUrls", "infra_urls_from_env", "owner_database_url"]

# The project-local platform_admin DSN (what `deploy/local/infra.py env` prints) for a bare `pytest` run.
_LOCAL_ADMIN_DATABASE_URL = "postgresql+asyncpg://platform_admin:platform_admin@127.0.0.1:55432/aiaas"
# The database owner's DSN (`infra.py env` prints it as MIGRATION_DATABASE_URL): the one role that may
# write admin_keys.
_LOCAL_OWNER_DATABASE_URL = "postgresql+asyncpg://aiaas_owner:aiaas_owner@127.0.0.1:55432/aiaas"


@dataclass(frozen=True)
class InfraUrls:
    database_url: str
    admin_database_url: str
    nats_url: str
    redis_url: str


def infra_urls_from_env() -> InfraUrls:
    """The URLs `deploy/local/infra.py env` exported, each defaulting to the project-local one."""
    return InfraUrls(
        database_url=os.environ.get("DATABASE_URL", LOCAL_DEFAULTS["DATABASE_URL"]),
        # Tests seed tenants across tenants; no service default exists for this role (aiaas.roles).
        admin_database_url=os.environ.get("ADMIN_DATABASE_URL", _LOCAL_ADMIN_DATABASE_URL),
        nats_url=os.environ.get("NATS_URL", LOCAL_DEFAULTS["NATS_URL"]),
        redis_url=os.environ.get("REDIS_URL", LOCAL_DEFAULTS["REDIS_URL"]),
    )


def owner_database_url() -> str:
    """The database owner's DSN (MIGRATION_DATABASE_URL), for what only the owner may write."""
    return os.environ.get("MIGRATION_DATABASE_URL", _LOCAL_OWNER_DATABASE_URL)
