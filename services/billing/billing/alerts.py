"""Quota alerts: soft-limit thresholds recorded once per period, delivered to the tenant's webhook.

A crossing is recorded in the metering transaction: an `alert_deliveries` row (unique per tenant,
period and threshold, so the first crossing wins) and a `billing.quota.threshold_reached` event in
the outbox. `AlertDeliverer` (in the meter process) POSTs the event envelope to the tenant's endpoint,
signed `X-AIaaS-Signature: t=<unix>,v1=<hex hmac_sha256(secret, "<t>.<body>")>`. It claims due rows
across tenants as platform_admin (one queue for every tenant) and records each outcome in that row's
tenant transaction as app_runtime. A row is claimed with a lease (so no transaction stays open across HTTP and several
deliverers can run), retried with jittered exponential back-off, and given up after `max_attempts`
with its last error kept. Delivery is at least once: receivers dedupe by `X-AIaaS-Event-Id`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session, tenant_session
from aiaas.egress import check_public_url
from aiaas.errors import BadRequest
from aiaas.events import EventEnvelope, event_id, write_outbox
from aiaas.events.schemas import QUOTA_THRESHOLD_REACHED, QuotaThresholdReached
from aiaas.resilience import RetryPolicy
from billing.catalogue import Plan

__all__ = [
    "SIGNATURE_HEADER",
    "sign",
    "verify_signature",
    "threshold_tokens",
    "record_thresholds",
    "set_endpoint",
    "AlertDeliverer",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-AIaaS-Signature"

_RECORD = text(
    "insert into alert_deliveries (tenant_id, threshold_pct, period_start, payload)"
    " values (:tid, :pct, :period_start, cast(:payload as jsonb))"
    " on conflict (tenant_id, period_start, threshold_pct) do nothing returning id"
)
_SET_ENDPOINT = text(
    "insert into alert_endpoints (tenant_id, url, secret) values (:tid, :url, :secret)"
    " on conflict (tenant_id) do update set url = excluded.url, secret = excluded.secret, updated_at = now()"
)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: recompute the HMAC, compare in constant time, refuse stale timestamps."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


def threshold_tokens(plan: Plan) -> list[tuple[int, int]]:
    """(tokens used at which the soft limit is reached, percentage) of `plan`, ascending."""
    if plan.included_tokens <= 0:
        return []
    # ceil: 80 % of 5 tokens is reached at 4
    return sorted((-(-plan.included_tokens * pct // 100), pct) for pct in plan.soft_limit_pcts)


async def record_thresholds(
    session: AsyncSession,
    plan: Plan,
    tenant_id: uuid.UUID,
    period_start: datetime,
    crossings: list[tuple[int, int]],
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
        params = {"tid": tenant_id, "pct": pct, "period_start": period_start, "payload": envelope.to_json().decode()}
        if (await session.execute(_RECORD, params)).first() is not None:
            await write_outbox(session, envelope)
            recorded.append(pct)
    return recorded


def _check_url(url: str, *, allow_internal: bool) -> str:
    if len(url) > 2048:
        raise BadRequest("The alert URL may be at most 2048 characters.", code="invalid_url", param="url")
    try:
        return check_public_url(url, allow_internal=allow_internal)
    except ValueError as exc:
        raise BadRequest(f"The alert URL cannot be used: {exc}.", code="invalid_url", param="url") from exc


async def set_endpoint(session: AsyncSession, tenant_id: uuid.UUID, url: str, *, allow_internal: bool = False) -> str:
    """Point the tenant's alerts at `url` with a fresh signing secret; returns the secret (shown once).

    `url` must be public (aiaas.egress) unless `allow_internal` (BILLING_ALERT_ALLOW_INTERNAL_URLS).
    """
    secret = "whsec_" + secrets.token_hex(32)
    checked = _check_url(url, allow_internal=allow_internal)
    await session.execute(_SET_ENDPOINT, {"tid": tenant_id, "url": checked, "secret": secret})
    return secret


_CLAIM = text(
    """
    with due as (
        select id from alert_deliveries
        where status = 'pending' and next_attempt_at <= now()
        order by next_attempt_at limit :limit
        for update skip locked
    ), claimed as (
        update alert_deliveries d
        set attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => :lease_s)
        from due where d.id = due.id
        returning d.id, d.tenant_id, d.payload, d.attempts
    )
    select c.id, c.tenant_id, c.payload::text as payload, c.attempts, e.url, e.secret
    from claimed c left join alert_endpoints e on e.tenant_id = c.tenant_id
    """
)
_DELIVERED = text("update alert_deliveries set status = 'delivered', delivered_at = now() where id = :id")
_NO_ENDPOINT = text(
    "update alert_deliveries set status = 'no_endpoint', last_error = 'no alert endpoint configured' where id = :id"
)
_FAILED = text(
    "update alert_deliveries set status = case when :give_up then 'failed' else 'pending' end,"
    " last_error = :error, next_attempt_at = now() + make_interval(secs => :delay_s) where id = :id"
)


@dataclass(frozen=True)
class _Claimed:
    id: int
    tenant_id: uuid.UUID
    payload: str
    attempts: int
    url: str | None
    secret: str | None


class AlertDeliverer:
    """Delivers pending alert rows; safe to run in several processes (SKIP LOCKED plus a lease)."""

    def __init__(
        self,
        admin_sessions: async_sessionmaker[AsyncSession],
        sessions: async_sessionmaker[AsyncSession],
        http: aiohttp.ClientSession,
        *,
        policy: RetryPolicy,
        timeout_s: float = 5.0,
        poll_s: float = 0.5,
        batch_size: int = 50,
        allow_internal: bool = False,
    ) -> None:
        """`admin_sessions` (platform_admin) claim due rows of every tenant; `sessions` (app_runtime) record each
        outcome under the row's tenant. `http` should come from `aiaas.egress.public_session` (its resolver
        refuses internal addresses)."""
        self._allow_internal = allow_internal
        self._admin_sessions = admin_sessions
        self._sessions = sessions
        self._http = http
        self._policy = policy
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._lease_s = timeout_s * 3
        self._poll_s = poll_s
        self._batch_size = batch_size

    async def deliver_once(self) -> int:
        """Attempt every due delivery once; returns how many were attempted."""
        async with admin_session(self._admin_sessions) as session:
            rows = (await session.execute(_CLAIM, {"limit": self._batch_size, "lease_s": self._lease_s})).all()
        claimed = [_Claimed(r.id, r.tenant_id, r.payload, r.attempts, r.url, r.secret) for r in rows]
        if claimed:
            await asyncio.gather(*(self._deliver(row) for row in claimed))
        return len(claimed)

    async def _deliver(self, row: _Claimed) -> None:
        if row.url is None or row.secret is None:
            async with tenant_session(self._sessions, row.tenant_id) as session:
                await session.execute(_NO_ENDPOINT, {"id": row.id})
            return
        body = row.payload.encode()
        envelope_id = EventEnvelope.from_json(body).id
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(row.secret, int(time.time()), body),
            "X-AIaaS-Event-Id": str(envelope_id),
        }
        error: str | None = None
        try:
            # Checked again: the URL may predate the policy. Redirects are not followed (one could name an
            # internal address); a 3xx is a failed delivery.
            check_public_url(row.url, allow_internal=self._allow_internal)
            async with self._http.post(
                row.url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as resp:
                if not 200 <= resp.status < 300:
                    error = f"HTTP {resp.status}"
        except ValueError as exc:
            error = f"URL refused: {exc}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        async with tenant_session(self._sessions, row.tenant_id) as session:
            if error is None:
                await session.execute(_DELIVERED, {"id": row.id})
                return
            give_up = row.attempts >= self._policy.max_attempts
            delay = 0.0 if give_up else self._policy.delay(row.attempts - 1)
            await session.execute(_FAILED, {"id": row.id, "give_up": give_up, "error": error, "delay_s": delay})
        log.warning("alert delivery failed", extra={"delivery": row.id, "attempt": row.attempts, "error": error})

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            attempted = await self.deliver_once()
            if attempted < self._batch_size:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self._poll_s)
                except TimeoutError:
                    continue
