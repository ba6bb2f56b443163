"""Billing settings (env prefix `BILLING_`); infrastructure URLs are shared."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aiaas.settings import AdminDatabaseSettings, MetricsPort, ServiceSettings

__all__ = ["BillingSettings", "BillingAdminSettings"]


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", env_file=".env", extra="ignore", populate_by_name=True)

    service_name: str = "billing"
    max_body_bytes: int = 65_536
    auth_cache_ttl_s: float = 5.0
    tracing: bool = True
    # Sales tax applied to every invoice's subtotal (0.0825 = 8.25 %).
    tax_rate: Decimal = Field(Decimal("0"), ge=0, le=1)
    # Largest single prepaid top-up, minor units ($100,000).
    max_top_up_minor: int = 10_000_000
    # Where Stripe Checkout sends the customer after paying / cancelling a top-up (a request may name its own).
    top_up_success_url: str = Field("http://localhost:3000/billing/top-ups/success", pattern=r"^https?://\S+$")
    top_up_cancel_url: str = Field("http://localhost:3000/billing/top-ups/cancel", pattern=r"^https?://\S+$")
    # How long plans, prices and model tiers are cached in-process.
    catalogue_ttl_s: float = 5.0

    # The meter process (`python -m billing.meter`): which durable consumer it reads.
    meter_stream: str = "USAGE"
    meter_durable: str = "billing-meter"
    meter_filter_subject: str = "usage.recorded.>"
    meter_batch_size: int = 1000
    # Tenants of a batch metered in parallel transactions (one connection each), and batches in flight.
    meter_concurrency: int = 4
    meter_runners: int = 1
    meter_fetch_timeout_s: float = 0.2
    meter_metrics_port: int = 9102
    # Every tenant's quota state is re-published to Redis this often (and after each commit).
    reconcile_interval_s: float = 5.0
    # How often the meter checks that Redis still holds its quota states (`aiaas.quota.PUBLISHED_KEY`);
    # a Redis that came back empty (no persistence) gets every state again within this interval.
    quota_watch_interval_s: float = 0.25
    run_outbox_relay: bool = True

    # Quota alert webhooks: jittered exponential back-off between attempts, then give up.
    alert_max_attempts: int = 8
    alert_base_delay_s: float = 2.0
    alert_max_delay_s: float = 600.0
    alert_timeout_s: float = 5.0
    alert_poll_s: float = 0.5
    # Tenant-supplied alert URLs may name loopback/private/link-local addresses (local development, tests
    # with receivers on 127.0.0.1). Off in production: aiaas.egress refuses them (no SSRF into the cluster).
    alert_allow_internal_urls: bool = False


class BillingAdminSettings(AdminDatabaseSettings, BillingSettings):
    """The billing processes that cross tenants (the admin listener, the meter, `close-periods`): they alone
    are given the platform_admin DSN; the tenant API's `BillingSettings` has no field for it."""

    # The admin listener's metrics listener: a port of its own, as it may run on the tenant API's host.
    metrics_port: MetricsPort = Field(0, validation_alias="BILLING_ADMIN_METRICS_PORT")
