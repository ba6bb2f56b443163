"""Gateway settings (env prefix `GATEWAY_`); provider keys keep their usual names."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from aiaas.credential_hosts import CredentialHostDeclaration
from aiaas.resilience.failover_budget import FailoverBudget
from aiaas.service_callers import service_key_names
from aiaas.settings import AdminDatabaseSettings, ServiceSettings

__all__ = ["GatewaySettings", "OutboxRelaySettings"]


class GatewaySettings(ServiceSettings, FailoverBudget):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore", populate_by_name=True)

    service_name: str = "gateway"
    # Model aliases -> ordered deployments. A YAML/JSON file; without one, defaults
    # point at real providers when their keys are set, else at the provider simulator.
    models_file: Path | None = None
    provider_sim_url: str = "http://127.0.0.1:8090"
    openai_api_key: str = Field("", validation_alias="OPENAI_API_KEY")
    anthropic_api_key: str = Field("", validation_alias="ANTHROPIC_API_KEY")
    # Further credentials by name, referenced by deployments' `credentials_ref` (JSON object).
    credentials: dict[str, str] = {}
    # The hosts each credential may be sent to, over the built-ins (aiaas.credential_hosts); the control plane
    # reads the same variable to refuse such deployments at the PUT.
    provider_credential_hosts: CredentialHostDeclaration = Field(
        default_factory=dict, validation_alias="PROVIDER_CREDENTIAL_HOSTS"
    )

    max_body_bytes: int = 1_048_576
    # request_deadline_s, upstream_timeout_s, retry_*, stream_first_byte_timeout_s and failover_min_room_s come
    # from FailoverBudget: they are chosen together so the next deployment is always tried inside the deadline.
    breaker_failure_threshold: int = 5
    breaker_cooldown_s: float = 10.0

    auth_cache_ttl_s: float = 5.0
    # Platform services' credentials: named platform-admin keys (sk-admin-...) that may call the chat route and
    # GET /v1/models for the tenant in `x-aiaas-tenant-id` (gateway/callers.py). Comma-separated; empty = none.
    service_key_names: str = "orchestrator"
    # Applied when a tenant or key has no limit of its own; 0 = unlimited.
    default_tenant_rpm: int = 0
    default_tenant_tpm: int = 0
    default_max_tokens_estimate: int = 256

    # A limiter round trip (or a connect) to Redis slower than this fails: the request is then admitted and the
    # bypass counted (gateway_rate_limit_bypassed_total) instead of every request waiting on a hung Redis.
    redis_timeout_s: float = 1.0
    # Rate-limit settles wait this long for the next request to carry them to Redis (limits/service.py).
    settle_linger_s: float = 0.01
    publish_timeout_s: float = 2.0
    # How long the first usage event after a quiet spell waits for others to share its publish round trip.
    emit_linger_s: float = 0.05
    # Usage events are written ahead to a file here before a response's last byte, and a restarted gateway
    # re-emits what a killed one left undone (aiaas.events.wal; owners told apart by file lock, not pid).
    # Must outlive the process: a volume in containers (compose: gateway-wal). Per host/pod; empty = off.
    usage_wal_dir: str = str(Path(tempfile.gettempdir()) / "aiaas-usage-wal")
    usage_writer_metrics_port: int = 9101
    tracing: bool = True

    # `model: "auto"` (gateway/routing): requests naming this alias are served by the alias the router service
    # decides ("" turns it off). The router is asked with the service credential and the tenant's id, within
    # router_deadline_ms, behind its own circuit breaker; any failure (or no router_url) takes the fallback table,
    # whose tiers map to aliases by auto_tier_aliases (cheapest first) unless the router told the tenant's own.
    auto_alias: str = "auto"
    router_url: str = ""
    router_service_token: str = ""
    # Or the file holding it (a secret mounted by the platform, e.g. the compose file's router-key volume); read once
    # at start, the token itself wins when both are set. A named file that cannot be read stops the start.
    router_service_token_file: str = ""
    router_deadline_ms: float = Field(100.0, gt=0)
    router_breaker_failure_threshold: int = Field(3, ge=1)
    router_breaker_cooldown_s: float = Field(5.0, ge=0)
    auto_tier_aliases: dict[str, str] = Field(
        default_factory=lambda: {"cheap": "gpt-4o-mini", "strong": "gpt-4o"}, min_length=1
    )

    # The response cache (gateway/cache): each tenant's flags (cache.*) decide; false turns it off in this gateway.
    # The request embedder (semantic tier, router) is loaded at start when the cache or the auto alias is on.
    cache_enabled: bool = True
    cache_key_prefix: str = "cache"
    # Semantic candidates fetched per lookup (nearest first) for the pair verifier to choose among.
    cache_semantic_k: int = Field(5, ge=1, le=50)
    # A cache lookup step (Redis GET, the pgvector query) slower than this is a miss.
    cache_timeout_s: float = Field(0.5, gt=0)
    # Stores run after the reply in background tasks; past this many at once new ones are dropped (counted).
    cache_store_max_pending: int = Field(64, ge=1)
    # Connections of the cache's own pool (its searches and stores), and as many again under bursts.
    cache_db_pool_size: int = Field(4, ge=1)

    @property
    def service_keys(self) -> frozenset[str]:
        return service_key_names(self.service_key_names)

    @model_validator(mode="after")
    def _router_token_from_file(self) -> GatewaySettings:
        if self.router_service_token or not self.router_service_token_file:
            return self
        path = Path(self.router_service_token_file)
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"GATEWAY_ROUTER_SERVICE_TOKEN_FILE {path} cannot be read: {exc.strerror}") from None
        if not token:
            raise ValueError(f"GATEWAY_ROUTER_SERVICE_TOKEN_FILE {path} is empty")
        self.router_service_token = token
        return self


class OutboxRelaySettings(AdminDatabaseSettings, GatewaySettings):
    """The outbox relay's: it reads every tenant's outbox rows, so it alone holds the platform_admin DSN."""

    # Its own port (not GATEWAY_METRICS_PORT, which `make dev` gives the gateway in the same env); 0 = off.
    outbox_relay_metrics_port: int = 0
