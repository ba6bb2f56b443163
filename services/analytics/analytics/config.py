"""Analytics settings (env prefix `ANALYTICS_`); infrastructure URLs are shared."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aiaas.settings import AdminDatabaseSettings, MetricsPort, ServiceSettings

__all__ = ["AnalyticsSettings", "AnalyticsAdminSettings"]


class AnalyticsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", env_file=".env", extra="ignore", populate_by_name=True)

    service_name: str = "analytics"
    port: int = 8083
    # Prometheus /metrics of the consumer process (consumer lag lives there); 0 = not served.
    consumer_metrics_port: int = 9103
    consumer_metrics_host: str = "127.0.0.1"
    consumer_batch_size: int = 500
    auth_cache_ttl_s: float = 5.0
    # How long `python -m analytics rebuild` waits to catch up with the streams.
    rebuild_timeout_s: float = 1800.0
    tracing: bool = True


class AnalyticsAdminSettings(AdminDatabaseSettings, AnalyticsSettings):
    """The analytics processes that cross tenants (the admin listener, `rebuild`): they alone are given the
    platform_admin DSN; the tenant API's and the consumer's `AnalyticsSettings` have no field for it."""

    admin_port: int = 8087
    # The admin listener's metrics listener: a port of its own, as it may run on the tenant API's host.
    metrics_port: MetricsPort = Field(0, validation_alias="ANALYTICS_ADMIN_METRICS_PORT")
