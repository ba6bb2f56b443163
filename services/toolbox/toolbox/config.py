"""Settings of the toolbox (env prefix `TOOLBOX_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aiaas.standin import StandinSettings

__all__ = ["Settings"]


class Settings(StandinSettings):
    """Where the toolbox listens, how long it keeps idempotency keys, how long a stalled reply is held."""

    model_config = SettingsConfigDict(env_prefix="TOOLBOX_", env_file=".env", extra="ignore", populate_by_name=True)

    service_name: str = "toolbox"
    port: int = 8094
    demo_data: bool = Field(True, description="A tenant seen for the first time starts with the demo orders and stock.")
    idempotency_ttl_s: float = Field(
        24 * 3600, gt=0, description="How long a stored response is replayed (Stripe: 24 h)."
    )
    stall_s: float = Field(60.0, gt=0, le=3600, description="How long `after_effect=stall` holds a reply by default.")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Larger request bodies are refused with 413.")
