"""Router settings (env prefix `ROUTER_`); infrastructure URLs are shared.

The platform default policy (what a tenant without a `router_policies` row gets) is configured here:
`ROUTER_DEFAULT_TIERS` (JSON list, cheapest first, each `{"name", "alias", "price_usd_per_1k"}` with the price in US
dollars per 1,000 tokens), `ROUTER_DEFAULT_LAMBDA`, `ROUTER_DEFAULT_MAX_COST`, `ROUTER_DEFAULT_EXPLORATION_CAP`,
`ROUTER_DEFAULT_EARLY_EXIT_BAR`, `ROUTER_DEFAULT_LATENCY_SLO_MS` (unset = no latency objective).

What the bandit learns from usage events (router/consumers.py) and how the decision uses it:
`ROUTER_COST_PRIOR_STRENGTH` (how many observations at ratio 1 a tier's cost estimate is worth),
`ROUTER_NOVELTY_BAR` and `ROUTER_NOVELTY_PRIOR_SCALE` (a request farther than the bar from the training data: no
early exit, the classifier's prior weighs that much less).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from aiaas.service_callers import service_key_names
from aiaas.settings import AdminDatabaseSettings, MetricsPort, ServiceSettings

__all__ = ["RouterSettings", "RouterAdminSettings", "TierSetting", "DEFAULT_ARTIFACT"]

DEFAULT_ARTIFACT = Path(__file__).resolve().parent / "model" / "artifacts" / "router-v1.json"


class TierSetting(BaseModel):
    name: str
    alias: str
    price_usd_per_1k: float = Field(ge=0)


def _default_tiers() -> list[TierSetting]:
    return [
        TierSetting(name="cheap", alias="gpt-4o-mini", price_usd_per_1k=0.0006),
        TierSetting(name="strong", alias="gpt-4o", price_usd_per_1k=0.01),
    ]


class RouterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTER_", env_file=".env", extra="ignore", populate_by_name=True)

    service_name: str = "router"
    port: int = 8088
    tracing: bool = True
    auth_cache_ttl_s: float = 5.0
    # The largest decide/feedback/policy body accepted (413 above): a long chat history and one embedding.
    max_body_bytes: int = 4 * 1024 * 1024
    # The gateway's service credential: named platform-admin keys (sk-admin-...) allowed to decide for the tenant
    # in `x-aiaas-tenant-id`. Comma-separated names; empty = tenant keys only.
    service_key_names: str = "gateway"
    # The model artifact used until a router version is active (router/versions); missing or corrupt -> fallback.
    artifact_path: str = str(DEFAULT_ARTIFACT)
    # Budget of one decision's model work (features, embedding, classifier); past it the fallback table answers.
    # 0 forces the fallback (tests, incidents).
    decide_deadline_ms: float = Field(50.0, ge=0)
    # Output tokens assumed when a request sets no max_tokens (and the cap on it when it sets one).
    expected_output_tokens: int = Field(256, ge=1)
    # The classifier's p counts as this many pseudo-observations in a tier's Beta posterior.
    prior_strength: float = Field(10.0, gt=0)
    # A tier's estimated cost is scaled by (K + sum of observed/expected cost ratios) / (K + their number): K is this
    # (the estimate counts as K observations at ratio 1; router/bandit/rules.py cost_factor).
    cost_prior_strength: float = Field(5.0, gt=0)
    # novelty = 1 - best cosine of the request's embedding to the model's training centroids (0..2). Above this bar
    # the classifier is out of its depth: no early exit, and its prior counts `novelty_prior_scale` x
    # `prior_strength` (observations move the posterior faster). 0.8 is above 99.5 % of the training prompts'
    # novelty (router-v1: train 0.5 %, GSM8K test 0 %, MMLU test 0.9 % above; MT-Bench 18-24 %). Per artifact and
    # embedder: re-measure after retraining. Above 2: never novel.
    novelty_bar: float = Field(0.8, ge=0)
    novelty_prior_scale: float = Field(0.5, gt=0, le=1)
    # How long a process reuses a tenant's policy and bandit arms before reading them again (0 = every decision).
    state_cache_ttl_s: float = Field(1.0, ge=0)
    # A repeat of the same messages within this window on a stronger tier is a retry: a failure of the first.
    retry_window_s: float = Field(600.0, ge=0)
    # Decision events are written ahead here until durable (aiaas.events.wal); empty = off.
    wal_dir: str = str(Path(tempfile.gettempdir()) / "aiaas-router-wal")
    # Decisions wait this long for company before one JetStream publish (written ahead meanwhile): as the gateway.
    emit_linger_s: float = 0.05
    publish_timeout_s: float = 2.0
    # The platform default policy.
    default_tiers: list[TierSetting] = Field(default_factory=_default_tiers)
    default_lambda: float = Field(0.05, ge=0)
    default_max_cost_usd: float | None = Field(None, ge=0)
    default_exploration_cap: float = Field(0.05, ge=0, le=1)
    default_early_exit_bar: float = Field(0.9, ge=0, le=1)
    # A routed request slower than this (the usage event's latency_ms) is a failure of its decision; None = off.
    default_latency_slo_ms: int | None = Field(None, gt=0, le=86_400_000)
    # The consumer process (`python -m router consume`): its metrics listener and batch size.
    consumer_metrics_port: MetricsPort = 9106
    consumer_metrics_host: str = "127.0.0.1"
    consumer_batch_size: int = 200
    # How often the version selector re-reads router_versions (stable / canary); off = the artifact alone serves.
    versions_poll_s: float = Field(2.0, gt=0)
    versions_from_db: bool = True

    @property
    def service_keys(self) -> frozenset[str]:
        return service_key_names(self.service_key_names)


class RouterAdminSettings(AdminDatabaseSettings, RouterSettings):
    """The router's admin listener (`python -m router.admin`: versions, canary monitor): platform_admin only."""

    admin_port: int = 8089
    metrics_port: MetricsPort = Field(0, validation_alias="ROUTER_ADMIN_METRICS_PORT")
    # Canary monitor (router/canary): sliding window, how often it looks, the z-test's alpha, margins, minimum
    # decisions per arm.
    canary_window_s: float = Field(300.0, gt=0)
    canary_interval_s: float = Field(5.0, gt=0)
    canary_alpha: float = Field(0.01, gt=0, lt=0.5)
    canary_min_decisions: int = Field(50, ge=1)
    canary_misroute_margin: float = Field(0.02, ge=0)
    canary_error_margin: float = Field(0.01, ge=0)
    canary_slow_margin: float = Field(0.05, ge=0)
    canary_latency_margin: float = Field(0.5, ge=0)
    canary_latency_floor_ms: float = Field(1.0, ge=0)
