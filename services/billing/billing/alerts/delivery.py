"""Delivering quota alerts: POST the recorded event to the tenant's endpoint, signed, with retries.

`AlertDeliverer` runs in the meter process. It claims due rows across tenants as platform_admin (one
queue for every tenant) and records each outcome in that row's tenant transaction as app_runtime. A row
is claimed with a lease (so no transaction stays open across HTTP and several deliverers can run),
retried with jittered exponential back-off, and given up after `max_attempts` with its last error kept.
Delivery is at least once: receivers dedupe by `X-AIaaS-Event-Id`.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session, tenant_session
from aiaas.egress import check_public_url
from aiaas.events import EventEnvelope
from aiaas.resilience import RetryPolicy
from billing.alerts import repository
from billing.alerts.rules import SIGNATURE_HEADER, sign

__all__ = ["AlertDeliverer"]

log = logging.getLogger(__name__)


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
            claimed = await repository.claim_due(session, self._batch_size, self._lease_s)
        if claimed:
            await asyncio.gather(*(self._deliver(row) for row in claimed))
        return len(claimed)

    async def _deliver(self, row: repository.Claimed) -> None:
        if row.url is None or row.secret is None:
            async with tenant_session(self._sessions, row.tenant_id) as session:
                await repository.mark_no_endpoint(session, row.id)
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
                await repository.mark_delivered(session, row.id)
                return
            give_up = row.attempts >= self._policy.max_attempts
            delay = 0.0 if give_up else self._policy.delay(row.attempts - 1)
            await repository.mark_failed(session, row.id, give_up=give_up, error=error, delay_s=delay)
        log.warning("alert delivery failed", extra={"delivery": row.id, "attempt": row.attempts, "error": error})

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            attempted = await self.deliver_once()
            if attempted < self._batch_size:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self._poll_s)
                except TimeoutError:
                    continue
