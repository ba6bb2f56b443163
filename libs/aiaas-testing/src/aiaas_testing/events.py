"""Event factories: a valid `usage.recorded` envelope as the gateway's UsageMeter builds it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from aiaas import clock
from aiaas.events import EventEnvelope, event_id
from aiaas.events.schemas import USAGE_RECORDED, UsageRecorded

__all__ = ["usage_recorded"]

_HTTP_STATUS = {"success": 200, "error": 502, "cancelled": None}


def usage_recorded(
    tenant_id: uuid.UUID,
    api_key_id: uuid.UUID,
    *,
    model: str = "chat",
    status: Literal["success", "error", "cancelled"] = "success",
    tokens_in: int = 10,
    tokens_out: int = 20,
    cost_usd: str = "0.001",
    latency_ms: float = 10.0,
    ttft_ms: float | None = None,
    request_id: str | None = None,
    provider: str = "sim",
    deployment: str | None = None,
    upstream_model: str | None = None,
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
    occurred_at: datetime | None = None,
    extra: Mapping[str, object] | None = None,
) -> EventEnvelope:
    """A `usage.recorded` envelope with its deterministic id (from `request_id`, unique when not given).

    Defaults: deployment `<model>-a` on upstream `sim-<model>`, streamed when `ttft_ms` is set, started now and
    completed `latency_ms` later; `extra` adds fields to the data (e.g. `cache_hit`); `occurred_at` defaults to
    the envelope's own (now).
    """
    rid = request_id or f"req-{uuid.uuid4().hex}"
    started = started_at or clock.now()
    data = UsageRecorded(
        request_id=rid,
        api_key_id=api_key_id,
        model_alias=model,
        provider=provider,
        deployment=deployment or f"{model}-a",
        upstream_model=upstream_model or f"sim-{model}",
        stream=ttft_ms is not None,
        status=status,
        http_status=_HTTP_STATUS[status],
        error_code="upstream_error" if status == "error" else None,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost_usd,
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        attempts=1,
        started_at=started,
        completed_at=completed_at or started + timedelta(milliseconds=latency_ms),
    ).model_dump(mode="json")
    data.update(extra or {})
    envelope = {"occurred_at": occurred_at} if occurred_at is not None else {}
    return EventEnvelope(
        id=event_id(USAGE_RECORDED, rid), type=USAGE_RECORDED, tenant_id=tenant_id, data=data, **envelope
    )
