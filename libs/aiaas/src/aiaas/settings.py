"""Settings base: every service subclasses `ServiceSettings` with its own env prefix.

Infrastructure URLs are shared by all services and read from un-prefixed names
(`DATABASE_URL`, `NATS_URL`, `REDIS_URL`, ...); everything else is per service.

`DATABASE_URL` is the `app_runtime` role (tenant policies apply). The cross-tenant
`platform_admin` DSN is not here: only a process that must cross tenants adds
`AdminDatabaseSettings` to its settings, and then must be given `ADMIN_DATABASE_URL`
(no default: a tenant-facing process can never pick it up by accident).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServiceSettings", "AdminDatabaseSettings", "LOCAL_DEFAULTS", "MetricsPort"]

# Project-local ports used by deploy/local/infra.py when no URL is configured.
LOCAL_DEFAULTS = {
    "DATABASE_URL": "postgresql+asyncpg://app_runtime:app_runtime@127.0.0.1:55432/aiaas",
    "NATS_URL": "nats://127.0.0.1:54222",
    "REDIS_URL": "redis://127.0.0.1:56379/0",
}


def _empty_is_zero(value: object) -> object:
    return 0 if value == "" else value


# A metrics listener's port: 0 or an empty variable = not served.
MetricsPort = Annotated[int, BeforeValidator(_empty_is_zero), Field(ge=0, le=65535)]


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set `env_prefix` for their own fields."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    service_name: str = "aiaas"
    database_url: str = Field(LOCAL_DEFAULTS["DATABASE_URL"], validation_alias="DATABASE_URL")
    nats_url: str = Field(LOCAL_DEFAULTS["NATS_URL"], validation_alias="NATS_URL")
    redis_url: str = Field(LOCAL_DEFAULTS["REDIS_URL"], validation_alias="REDIS_URL")
    db_pool_size: int = Field(10, validation_alias="DB_POOL_SIZE")
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    log_json: bool = Field(True, validation_alias="LOG_JSON")
    otel_exporter: str = Field("none", validation_alias="OTEL_TRACES_EXPORTER")
    # /admin routes take named admin keys (aiaas.auth.require_admin); a revoke counts within this many seconds.
    admin_key_cache_ttl_s: float = Field(5.0, ge=0, validation_alias="ADMIN_KEY_CACHE_TTL_S")
    # Prometheus metrics on a listener of their own (`<PREFIX>_METRICS_PORT`, e.g. GATEWAY_METRICS_PORT), never on
    # the tenant-facing port; 0 or empty = not served. Bound to `<PREFIX>_METRICS_HOST`, loopback by default.
    metrics_port: MetricsPort = 0
    metrics_host: str = "127.0.0.1"


class AdminDatabaseSettings(BaseSettings):
    """Mixin for the processes that hold the cross-tenant `platform_admin` role (aiaas.roles says which).

    List it first (`class X(AdminDatabaseSettings, BillingSettings)`): pydantic merges the bases' configs in
    order, so the service's own env prefix must come last to win.
    """

    admin_database_url: str = Field(validation_alias="ADMIN_DATABASE_URL")
