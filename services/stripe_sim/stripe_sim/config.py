"""Settings of the Stripe stand-in (env prefix `STRIPE_SIM_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aiaas.standin import StandinSettings

__all__ = ["API_VERSION", "Settings"]

# The version the official SDK pinned in constraints.txt sends; echoed when a request names none.
API_VERSION = "2026-10-28.endive"


class Settings(StandinSettings):
    """Where to listen, which secret keys are valid, how webhooks are delivered."""

    model_config = SettingsConfigDict(env_prefix="STRIPE_SIM_", env_file=".env", extra="ignore", populate_by_name=True)

    service_name: str = "stripe-sim"
    port: int = 8092
    api_keys: list[str] = Field(
        default_factory=list,
        description="Accepted secret keys; empty = any key that starts with `sk_test_` or `rk_test_`.",
    )
    webhook_timeout_s: float = Field(10.0, gt=0, le=60, description="Timeout of one webhook delivery.")
    webhook_url: str = Field("", description="A webhook endpoint registered at start (every event); empty = none.")
    webhook_secret: str = Field("", description="The signing secret of `webhook_url`'s endpoint.")
