"""Quota alerts: soft-limit thresholds recorded once per period, delivered to the tenant's webhook.

A crossing is recorded in the metering transaction: an `alert_deliveries` row (unique per tenant,
period and threshold, so the first crossing wins) and a `billing.quota.threshold_reached` event in
the outbox. alerts/delivery.py POSTs the event envelope to the tenant's endpoint, signed
`X-AIaaS-Signature: t=<unix>,v1=<hex hmac_sha256(secret, "<t>.<body>")>` (alerts/rules.py).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.egress import check_public_url
from aiaas.errors import BadRequest
from aiaas.events import EventEnvelope, event_id, write_outbox
from aiaas.events.schemas import QUOTA_THRESHOLD_REACHED, QuotaThresholdReached
from billing.alerts import repository
from billing.alerts.rules import Crossing
from billing.plans.catalogue import Plan

__all__ = ["record_thresholds", "set_endpoint"]


async def record_thresholds(
    session: AsyncSession,
    plan: Plan,
    tenant_id: uuid.UUID,
    period_start: datetime,
    crossings: list[Crossing],
    now: datetime,
) -> list[int]:
    """Record each (percentage, tokens used when it was crossed) not yet recorded this period; returns those."""
    recorded: list[int] = []
    for pct, used_tokens in crossings:
        data = QuotaThresholdReached(
            period_start=period_start,
            threshold_pct=pct,
            used_tokens=used_tokens,
            included_tokens=plan.included_tokens,
            plan=plan.code,
        )
        envelope = EventEnvelope(
            id=event_id(QUOTA_THRESHOLD_REACHED, str(tenant_id), period_start.isoformat(), str(pct)),
            type=QUOTA_THRESHOLD_REACHED,
            tenant_id=tenant_id,
            occurred_at=now,
            data=data.model_dump(mode="json"),
        )
        if await repository.insert_delivery(session, tenant_id, pct, period_start, envelope.to_json().decode()):
            await write_outbox(session, envelope)
            recorded.append(pct)
    return recorded


def _check_url(url: str, *, allow_internal: bool) -> str:
    if len(url) > 2048:
        raise BadRequest("The alert URL may be at most 2048 characters.", code="invalid_url", param="url")
    try:
        checked: str = check_public_url(url, allow_internal=allow_internal)
    except ValueError as exc:
        raise BadRequest(f"The alert URL cannot be used: {exc}.", code="invalid_url", param="url") from exc
    return checked


async def set_endpoint(session: AsyncSession, tenant_id: uuid.UUID, url: str, *, allow_internal: bool = False) -> str:
    """Point the tenant's alerts at `url` with a fresh signing secret; returns the secret (shown once).

    `url` must be public (aiaas.egress) unless `allow_internal` (BILLING_ALERT_ALLOW_INTERNAL_URLS).
    """
    secret = "whsec_" + secrets.token_hex(32)
    checked = _check_url(url, allow_internal=allow_internal)
    await repository.upsert_endpoint(session, tenant_id, checked, secret)
    return secret
