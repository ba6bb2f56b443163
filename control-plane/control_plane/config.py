"""Control-plane settings (env prefix `CONTROL_PLANE_`); infrastructure URLs are shared."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiaas.credential_hosts import CredentialHostDeclaration
from aiaas.resilience.failover_budget import FailoverBudget
from aiaas.settings import AdminDatabaseSettings, ServiceSettings

__all__ = ["ControlPlaneSettings", "CliSettings"]


class ControlPlaneSettings(AdminDatabaseSettings, ServiceSettings):
    """Tenants, keys, flags and registries are platform-wide: the control plane holds only the platform_admin role."""

    model_config = SettingsConfigDict(
        env_prefix="CONTROL_PLANE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    service_name: str = "control-plane"
    max_body_bytes: int = 262_144
    tracing: bool = True
    # JetStream KV bucket the flags are published to (what every FlagClient watches).
    flags_bucket: str = "flags"
    # Postgres is the source of truth: KV is reconciled from it at start and this often.
    reconcile_interval_s: float = Field(10.0, gt=0)
    # A KV publish after a commit waits at most this long; a miss is fixed by the next reconcile.
    publish_timeout_s: float = Field(2.0, gt=0)
    # Create the seed flags (streaming_enabled, max_tokens_cap, ...) at start when missing.
    seed_flags: bool = True
    # The hosts each provider credential may be sent to (aiaas.credential_hosts; the gateways read the same
    # variable): a model deployment whose base_url is not among its credential's hosts is refused at the PUT.
    provider_credential_hosts: CredentialHostDeclaration = Field(
        default_factory=dict, validation_alias="PROVIDER_CREDENTIAL_HOSTS"
    )
    # The gateways' deadline/timeout/retry settings (their GATEWAY_* variables): a model alias whose timeouts
    # leave no room for failover under them is refused at the PUT (aiaas.resilience.failover_budget).
    failover_budget: FailoverBudget = Field(default_factory=FailoverBudget)


class CliSettings(BaseSettings):
    """What `python -m control_plane flags ...` needs: where the API is and the caller's named admin key."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    url: str = Field(default="http://127.0.0.1:8084", validation_alias="CONTROL_PLANE_URL")
    admin_key: str = Field(default="", validation_alias="CONTROL_PLANE_ADMIN_KEY")
    timeout_s: float = Field(default=10.0, validation_alias="CONTROL_PLANE_TIMEOUT_S")
