"""Data-plane settings: the superuser URL (bootstrap only) and each role's credentials."""

from __future__ import annotations

from pydantic import Field
from sqlalchemy.engine import make_url

from aiaas.settings import AdminDatabaseSettings, ServiceSettings

__all__ = ["DataPlaneSettings"]


class DataPlaneSettings(AdminDatabaseSettings, ServiceSettings):
    """bootstrap creates every role from its URL (the platform_admin one included); seed creates tenants."""

    service_name: str = "data-plane"
    pg_superuser_url: str = Field(
        "postgresql://postgres:postgres@127.0.0.1:55432/postgres", validation_alias="PG_SUPERUSER_URL"
    )
    migration_database_url: str = Field(
        "postgresql+asyncpg://aiaas_owner:aiaas_owner@127.0.0.1:55432/aiaas",
        validation_alias="MIGRATION_DATABASE_URL",
    )
    # bootstrap retries its first connection this long: in compose it may start while Postgres is still starting.
    connect_wait_s: float = Field(60.0, ge=0, validation_alias="PG_CONNECT_WAIT_S")

    @property
    def database_name(self) -> str:
        return make_url(self.migration_database_url).database or "aiaas"

    def role_password(self, url: str) -> tuple[str, str]:
        parsed = make_url(url)
        return parsed.username or "", parsed.password or ""
