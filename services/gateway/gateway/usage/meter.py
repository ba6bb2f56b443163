"""Usage metering: exactly one `usage.recorded` event per request that reached a provider."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from aiaas import clock
from aiaas.auth import Principal
from aiaas.events import DurableEmitter, EventEnvelope, event_id
from aiaas.events.schemas import USAGE_RECORDED
from aiaas.observability.tracing import inject_trace_headers
from gateway.catalog.schemas import Deployment
from gateway.providers.base import Usage

__all__ = ["CacheStatus", "RequestRecord", "Status", "UsageMeter"]

Status = Literal["success", "error", "cancelled"]
CacheStatus = Literal["exact", "semantic", "miss", "bypass"]

_NO_COST = Decimal(0)


def _request_id() -> str:
    # 128 random bits, as uuid4().hex without building a UUID: one per request, on its path.
    return "req_" + os.urandom(16).hex()


@dataclass(slots=True)
class RequestRecord:
    """What the gateway knows about one request while it runs."""

    principal: Principal
    model_alias: str
    stream: bool
    # str(principal.key_id), made once per request (the limiter uses it too).
    api_key_id: str
    request_id: str = field(default_factory=_request_id)
    # Monotonic start; the wall-clock start is derived when the usage is recorded (one clock read per request).
    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    deployment: Deployment | None = None
    attempts: int = 0
    recorded: bool = False
    # Set by the semantic cache and by `model: "auto"`; carried on the usage event only when set.
    cache_status: CacheStatus | None = None
    router_decision_id: str | None = None
    router_tier: str | None = None
    router_reason: str | None = None
    # What the caller named when it differs from `model_alias`, the alias that served (e.g. "auto").
    requested_alias: str | None = None
    # The orchestrator run and step a service credential's call is for (gateway/callers.py).
    orch_run_id: uuid.UUID | None = None
    orch_step: str | None = None
    # What the usage event priced this request at, once recorded: a non-streamed answer carries it in the
    # `x-aiaas-cost-usd` header (a stream's headers leave before its usage is known).
    cost_usd: Decimal | None = None

    def mark_first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first_token_at is None else (self.first_token_at - self.started) * 1000


class UsageMeter:
    """Builds the usage event and hands it to the durable emitter (written ahead, then JetStream or outbox)."""

    def __init__(self, emitter: DurableEmitter) -> None:
        self._emitter = emitter

    def record(
        self,
        record: RequestRecord,
        *,
        status: Status,
        usage: Usage,
        http_status: int | None,
        error_code: str | None = None,
    ) -> None:
        """Emit once per request; a second call for the same request is ignored."""
        if record.recorded:
            return
        record.recorded = True
        elapsed = time.perf_counter() - record.started
        completed = clock.now()
        dep = record.deployment
        cost_usd = dep.cost_usd(usage.tokens_in, usage.tokens_out) if dep is not None else _NO_COST
        record.cost_usd = cost_usd
        # Hot path (before the response's last byte): the event's JSON form is built directly (every field is
        # typed by construction here); building the pydantic model and dumping it cost twice as much. Tests
        # validate these events against `UsageRecorded` and the JSON Schema in data-plane/events.
        data = {
            "request_id": record.request_id,
            "api_key_id": record.api_key_id,
            "model_alias": record.model_alias,
            "provider": dep.provider if dep else None,
            "deployment": dep.name if dep else None,
            "upstream_model": dep.model if dep else None,
            "stream": record.stream,
            "status": status,
            "http_status": http_status,
            "error_code": error_code,
            "tokens_in": usage.tokens_in,
            "tokens_out": usage.tokens_out,
            "cost_usd": format(cost_usd, "f"),
            "latency_ms": elapsed * 1000,
            "ttft_ms": record.ttft_ms,
            "attempts": max(record.attempts, 1),
            "started_at": _iso(completed - timedelta(seconds=elapsed)),
            "completed_at": _iso(completed),
        }
        if record.cache_status is not None:
            data["cache_status"] = record.cache_status
        if record.requested_alias is not None:
            data["requested_alias"] = record.requested_alias
        if record.router_decision_id is not None:
            data["router_decision_id"] = record.router_decision_id
            data["router_tier"] = record.router_tier
            data["router_reason"] = record.router_reason
        if record.orch_run_id is not None:
            data["orch_run_id"] = str(record.orch_run_id)
        if record.orch_step is not None:
            data["orch_step"] = record.orch_step
        event = EventEnvelope.model_construct(
            id=event_id(USAGE_RECORDED, record.request_id),
            type=USAGE_RECORDED,
            tenant_id=record.principal.tenant_id,
            trace=inject_trace_headers({}),
            data=data,
            occurred_at=completed,
        )
        self._emitter.emit_soon(event)


def _iso(moment: datetime) -> str:
    """A UTC datetime as pydantic writes it in JSON (`...Z`)."""
    return moment.isoformat().replace("+00:00", "Z")
