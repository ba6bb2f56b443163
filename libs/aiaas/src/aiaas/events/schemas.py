"""Typed `data` of each event type; kept in agreement with data-plane/events/*.json by tests.

Money fields name their unit (`_usd`: decimal US dollars; `_minor`: minor units of `currency`). Fields
renamed to say so still accept their old name on input (events already in JetStream or a gateway's WAL
and outbox carry it); only the new name is ever emitted.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_serializer, field_validator

__all__ = [
    "UsageRecorded",
    "USAGE_RECORDED",
    "UsageMetered",
    "USAGE_METERED",
    "QuotaThresholdReached",
    "QUOTA_THRESHOLD_REACHED",
    "InvoiceLine",
    "InvoiceFinalized",
    "INVOICE_FINALIZED",
    "PlanChanged",
    "PLAN_CHANGED",
    "BalanceToppedUp",
    "BALANCE_TOPPED_UP",
    "EVENT_DATA_MODELS",
    "input_names",
]

USAGE_RECORDED = "usage.recorded"
USAGE_METERED = "billing.usage.metered"
QUOTA_THRESHOLD_REACHED = "billing.quota.threshold_reached"
INVOICE_FINALIZED = "billing.invoice.finalized"
PLAN_CHANGED = "billing.plan.changed"
BALANCE_TOPPED_UP = "billing.balance.topped_up"
_PLAIN_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")


def input_names(model: type[BaseModel]) -> frozenset[str]:
    """Every key `model` reads: its field names and the old names they still accept (validation aliases)."""
    names = set()
    for name, field in model.model_fields.items():
        names.add(name)
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names.update(choice for choice in choices if isinstance(choice, str))
    return frozenset(names)


def _plain_decimal(value: object, name: str) -> object:
    """Money never travels as a float or in exponent notation."""
    if isinstance(value, float) or (isinstance(value, str) and not _PLAIN_DECIMAL.match(value)):
        raise ValueError(f"{name} must be a plain decimal string")
    return value


class UsageRecorded(BaseModel):
    """What one gateway request used and cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(min_length=1)
    api_key_id: uuid.UUID
    model_alias: str
    provider: str | None
    deployment: str | None
    upstream_model: str | None
    stream: bool
    status: Literal["success", "error", "cancelled"]
    http_status: int | None
    error_code: str | None
    tokens_in: int = Field(ge=0)
    tokens_out: int = Field(ge=0)
    cost_usd: Decimal = Field(
        ge=0,
        validation_alias=AliasChoices("cost_usd", "cost"),
        description="What the request cost at the gateway catalogue's prices: US dollars, decimal string",
    )
    latency_ms: float = Field(ge=0)
    ttft_ms: float | None = Field(ge=0)
    attempts: int = Field(ge=1)
    started_at: datetime
    completed_at: datetime
    # Absent on events from before the cache and the router; a cache hit reached no provider (cost 0).
    cache_status: Literal["exact", "semantic", "miss", "bypass"] | None = None
    router_decision_id: str | None = None
    router_tier: str | None = None
    # The alias the caller named when another served the request ("auto"); model_alias is the one that served.
    requested_alias: str | None = None
    router_reason: Literal["early_exit", "classifier", "bandit", "explore", "fallback", "pinned"] | None = None
    # Set on a service credential's call for an orchestrator run (headers x-aiaas-run-id, x-aiaas-step).
    orch_run_id: uuid.UUID | None = None
    orch_step: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:#-]{1,128}$")

    @field_validator("cost_usd", mode="before")
    @classmethod
    def _cost_is_plain_decimal(cls, value: object) -> object:
        return _plain_decimal(value, "cost_usd")

    @field_serializer("cost_usd")
    def _cost_as_string(self, cost: Decimal) -> str:
        return format(cost, "f")


class UsageMetered(BaseModel):
    """Billing metered one usage event: its period, tier and overage charge (minor units, unrounded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_event_id: uuid.UUID
    period_start: datetime
    model_alias: str
    tier: str
    tokens_in: int = Field(ge=0)
    tokens_out: int = Field(ge=0)
    requests: int = Field(ge=0)
    # Events written before the field existed were all in the only currency plans had then.
    currency: str = Field("usd", pattern=r"^[a-z]{3}$", description="ISO 4217 code, lower case, of `charge_minor`")
    charge_minor: Decimal = Field(
        ge=0,
        validation_alias=AliasChoices("charge_minor", "charge"),
        description="Overage charge in minor units (cents) of the plan currency, unrounded decimal string",
    )
    # The usage event's cache answer: a hit (exact/semantic) has no provider tokens and costs the plan's fee per hit.
    cache_status: Literal["exact", "semantic", "miss", "bypass"] | None = None
    cached_tokens: int = Field(0, ge=0, description="Tokens of the cached answer a hit served")

    @field_validator("charge_minor", mode="before")
    @classmethod
    def _charge_is_plain_decimal(cls, value: object) -> object:
        return _plain_decimal(value, "charge_minor")

    @field_serializer("charge_minor")
    def _charge_as_string(self, charge: Decimal) -> str:
        return format(charge, "f")


class QuotaThresholdReached(BaseModel):
    """A tenant's usage in the period crossed one of its plan's soft-limit percentages (once per period)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    period_start: datetime
    threshold_pct: int = Field(ge=1)
    used_tokens: int = Field(ge=0)
    included_tokens: int = Field(ge=0)
    plan: str


class InvoiceLine(BaseModel):
    """One line of a finalized invoice; `unit_amount_minor` is per 1,000 tokens on token lines."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str
    tier: str | None
    quantity: int = Field(ge=0)
    unit_amount_minor: Decimal = Field(
        ge=0,
        validation_alias=AliasChoices("unit_amount_minor", "unit_amount"),
        description="Minor units (cents) of the invoice currency, decimal string: per 1,000 overage tokens on"
        " token lines, the fee on the base fee line",
    )
    amount_minor: int = Field(ge=0, description="Line amount in integer minor units (cents) of the invoice currency")

    @field_validator("unit_amount_minor", mode="before")
    @classmethod
    def _unit_amount_is_plain_decimal(cls, value: object) -> object:
        return _plain_decimal(value, "unit_amount_minor")

    @field_serializer("unit_amount_minor")
    def _unit_amount_as_string(self, unit_amount: Decimal) -> str:
        return format(unit_amount, "f")


class InvoiceFinalized(BaseModel):
    """A period was closed into an immutable invoice (amounts in minor units of `currency`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    invoice_id: uuid.UUID
    period_start: datetime
    period_end: datetime
    currency: str = Field(pattern=r"^[a-z]{3}$")
    subtotal_minor: int = Field(ge=0, description="Sum of the lines, integer minor units (cents) of `currency`")
    credits_applied_minor: int = Field(ge=0, description="Prepaid credit applied, integer minor units of `currency`")
    tax_minor: int = Field(ge=0, description="Tax, integer minor units (cents) of `currency`")
    total_minor: int = Field(
        ge=0, description="Amount due = subtotal + tax - credits applied, integer minor units of `currency`"
    )
    lines: list[InvoiceLine]


class PlanChanged(BaseModel):
    """A tenant's subscription moved to another plan (applies to the open period from `changed_at`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    old_plan: str
    new_plan: str
    period_start: datetime
    changed_at: datetime


class BalanceToppedUp(BaseModel):
    """Prepaid credit was added to a tenant's balance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    credit_id: int = Field(ge=1)
    currency: str = Field("usd", pattern=r"^[a-z]{3}$", description="ISO 4217 code, lower case, of the amounts")
    amount_minor: int = Field(ge=1, description="Credit added, integer minor units (cents) of the plan currency")
    balance_minor: int = Field(ge=0, description="Balance after the top-up, integer minor units (cents)")
    idempotency_key: str


EVENT_DATA_MODELS: dict[str, type[BaseModel]] = {
    USAGE_RECORDED: UsageRecorded,
    USAGE_METERED: UsageMetered,
    QUOTA_THRESHOLD_REACHED: QuotaThresholdReached,
    INVOICE_FINALIZED: InvoiceFinalized,
    PLAN_CHANGED: PlanChanged,
    BALANCE_TOPPED_UP: BalanceToppedUp,
}


# ---- router canary (issue 14) ------------------------------------------------------------------------------
ROUTER_CANARY_ROLLED_BACK = "router.canary.rolled_back"
ROUTER_CANARY_PROMOTED = "router.canary.promoted"


class CanaryComparison(BaseModel):
    """One metric of a canary against the stable version over the window: a one-sided two-proportion z-test."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: Literal["misroute_rate", "error_rate", "slow_rate"]
    canary_events: int = Field(ge=0, description="Decisions of the canary that count against it (e.g. misroutes)")
    canary_n: int = Field(ge=0, description="Decisions of the canary in the window")
    stable_events: int = Field(ge=0)
    stable_n: int = Field(ge=0)
    canary_rate: float = Field(ge=0, le=1)
    stable_rate: float = Field(ge=0, le=1)
    margin: float = Field(ge=0, description="How much worse than stable (absolute) is tolerated")
    z: float = Field(description="(canary - stable - margin) / standard error, clamped to [-99, 99]")
    p_value: float = Field(ge=0, le=1, description="One-sided: P(Z >= z) under 'canary no worse than stable + margin'")
    worse: bool = Field(description="p_value < alpha with enough decisions in both arms")


class CanaryLatency(BaseModel):
    """Decision latency of both arms in the window (ms); `slow_rate` counts decisions above `threshold_ms`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    canary_p50_ms: float | None
    canary_p95_ms: float | None
    stable_p50_ms: float | None
    stable_p95_ms: float | None
    threshold_ms: float | None


class RouterCanaryOutcome(BaseModel):
    """A canary router version ended: rolled back (worse than stable, or by an admin) or promoted to stable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    stable_version: str = Field(description="The stable version it was compared with (before a promotion)")
    retired_version: str | None = Field(description="The stable version a promotion retired; null otherwise")
    share: float = Field(ge=0, le=1, description="The canary's share of conversations when it ended")
    trigger: Literal["monitor", "admin"]
    actor: str
    reason: str
    activated_at: datetime
    decided_at: datetime
    window_s: float | None = Field(description="The monitor's window; null for an admin's decision")
    alpha: float | None
    comparisons: list[CanaryComparison]
    latency: CanaryLatency | None


__all__ += [
    "ROUTER_CANARY_ROLLED_BACK",
    "ROUTER_CANARY_PROMOTED",
    "CanaryComparison",
    "CanaryLatency",
    "RouterCanaryOutcome",
]
EVENT_DATA_MODELS[ROUTER_CANARY_ROLLED_BACK] = RouterCanaryOutcome
EVENT_DATA_MODELS[ROUTER_CANARY_PROMOTED] = RouterCanaryOutcome


# ---- router decisions (issue 14) --------------------------------------------------------------------------------
ROUTER_DECISION_MADE = "router.decision.made"

RouterReason = Literal["early_exit", "classifier", "bandit", "explore", "fallback", "pinned"]


class RouterDecisionMade(BaseModel):
    """The router picked a tier for one request (POST /v1/router/decide); no prompt text, only hashes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decision_id: uuid.UUID
    tier: str = Field(min_length=1)
    model: str = Field(min_length=1, description="The gateway alias of the tier, from the tenant's policy")
    reason: RouterReason
    router_version: str = Field(min_length=1)
    canary: bool
    allowed: list[str] = Field(min_length=1, description="The tiers the decision could pick, cheapest first")
    stronger_allowed: bool = Field(description="A stronger allowed tier existed (a failure then is a misroute)")
    p_success: dict[str, float] = Field(description="Calibrated P(success) per tier; empty for a fallback")
    expected_cost_usd: float = Field(ge=0, description="Estimated US dollars of the request on the chosen tier")
    latency_ms: float = Field(ge=0, description="Time the decision took in the router")
    context_key: str = Field(min_length=1, description="The bandit context: the primary domain, or 'general'")
    conversation_key: str = Field(min_length=1)
    request_hash: str = Field(min_length=1, description="sha256 of the canonical messages: finds retries")


__all__ += ["ROUTER_DECISION_MADE", "RouterReason", "RouterDecisionMade"]
EVENT_DATA_MODELS[ROUTER_DECISION_MADE] = RouterDecisionMade


# ---- ingestion (issue 15) ---------------------------------------------------------------------------------------
INGEST_DOCUMENT_REQUESTED = "ingest.document.requested"


class IngestDocumentRequested(BaseModel):
    """An uploaded document version waits to be parsed, chunked, embedded and stored (the INGEST work queue)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    document_id: uuid.UUID
    version: int = Field(ge=1, description="The document's version this upload made")


__all__ += ["INGEST_DOCUMENT_REQUESTED", "IngestDocumentRequested"]
EVENT_DATA_MODELS[INGEST_DOCUMENT_REQUESTED] = IngestDocumentRequested


# ---- orchestrator, tool ledger, saga, knowledge base (issue 15): models in aiaas.events.orchestration -----------
from aiaas.events.orchestration import (  # noqa: E402
    KB_DOCUMENT_DELETED,
    ORCH_RUN_COMPLETED,
    ORCH_RUN_INTERRUPTED,
    ORCH_RUN_REQUESTED,
    ORCHESTRATION_EVENT_MODELS,
    SAGA_COMPENSATION_FAILED,
    SAGA_COMPENSATION_SUCCEEDED,
    TOOL_CALL_FAILED,
    TOOL_CALL_REQUESTED,
    TOOL_CALL_SUCCEEDED,
)

__all__ += [
    "KB_DOCUMENT_DELETED",
    "ORCH_RUN_COMPLETED",
    "ORCH_RUN_INTERRUPTED",
    "ORCH_RUN_REQUESTED",
    "SAGA_COMPENSATION_FAILED",
    "SAGA_COMPENSATION_SUCCEEDED",
    "TOOL_CALL_FAILED",
    "TOOL_CALL_REQUESTED",
    "TOOL_CALL_SUCCEEDED",
]

EVENT_DATA_MODELS.update(ORCHESTRATION_EVENT_MODELS)
