"""Usage metering: exactly one `usage.recorded` event per request that reached a provider."""

from __future__ import annotations

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
from gateway.catalog import Deployment
from gateway.providers.base import Usage

__all__ = ["RequestRecord", "UsageMeter"]

Status = Literal["success", "error", "cancelled"]


@dataclass
class RequestRecord:
    """What the gateway knows about one request while it runs."""

    principal: Principal
    model_alias: str
    stream: bool
    request_id: str = field(default_factory=lambda: f"req_{uuid.uuid4().hex}")
    started_wall: datetime = field(default_factory=clock.now)
    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    deployment: Deployment | None = None
    attempts: int = 0
    recorded: bool = False

    def mark_first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first_token_at is None else (self.first_token_at - self.started) * 1000


class UsageMeter:
    """Builds the usage event and hands it to the durable emitter (JetStream or outbox)."""

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
        dep = record.deployment
        cost_usd = dep.cost_usd(usage.tokens_in, usage.tokens_out) if dep is not None else 0
        # Hot path: the event's JSON form is built directly (every field is typed by construction here);
        # building the pydantic model and dumping it cost twice as much. Tests validate these events against
        # `UsageRecorded` and the JSON Schema in data-plane/events.
        completed = record.started_wall + timedelta(seconds=elapsed)
        data = {
            "request_id": record.request_id,
            "api_key_id": str(record.principal.key_id),
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
            "cost_usd": format(Decimal(cost_usd), "f"),
            "latency_ms": elapsed * 1000,
            "ttft_ms": record.ttft_ms,
            "attempts": max(record.attempts, 1),
            "started_at": _iso(record.started_wall),
            "completed_at": _iso(completed),
        }
        event = EventEnvelope.model_construct(
            id=event_id(USAGE_RECORDED, record.request_id),
            type=USAGE_RECORDED,
            tenant_id=record.principal.tenant_id,
            trace=inject_trace_headers({}),
            data=data,
            occurred_at=clock.now(),
        )
        self._emitter.emit_soon(event)


def _iso(moment: datetime) -> str:
    """A UTC datetime as pydantic writes it in JSON (`...Z`)."""
    return moment.isoformat().replace("+00:00", "Z")
