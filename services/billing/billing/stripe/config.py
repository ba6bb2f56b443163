"""Settings of billing's Stripe integration (env prefix `STRIPE_`: STRIPE_API_KEY, STRIPE_API_BASE, ...)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aiaas.settings import ServiceSettings

__all__ = ["StripeSettings"]


class StripeSettings(ServiceSettings):
    """Where Stripe is, the keys, and how hard to retry; an empty `api_key` disables the sync."""

    model_config = SettingsConfigDict(env_prefix="STRIPE_", env_file=".env", extra="ignore", populate_by_name=True)

    service_name: str = "billing-stripe-sync"
    api_key: str = ""
    api_base: str = "https://api.stripe.com"
    webhook_secret: str = ""
    # Stripe's own default: a signature older than five minutes is refused (replay protection).
    webhook_tolerance_s: int = Field(300, ge=1, le=3600)
    meter_event_name: str = Field("aiaas_tokens", pattern=r"^[a-z][a-z0-9_]{0,99}$")
    timeout_s: float = Field(30.0, gt=0)
    retry_attempts: int = Field(4, ge=1, le=20)
    retry_base_delay_s: float = Field(0.2, ge=0)
    retry_max_delay_s: float = Field(5.0, ge=0)
    batch_size: int = Field(64, ge=1, le=1000)
