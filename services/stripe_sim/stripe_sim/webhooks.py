"""Events and signed webhook delivery, using Stripe's signature scheme.

Each delivery POSTs the event JSON with `Stripe-Signature: t=<unix>,v1=<hex>`, where
the hex is HMAC-SHA256 of `f"{t}.{body}"` under the endpoint's secret: exactly what
`stripe.Webhook.construct_event` verifies. Events raised by API calls are delivered in
the background; `/_sim/emit` delivers and waits. Every attempt is recorded.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from aiaas.tasks import stop_tasks
from stripe_sim.config import API_VERSION
from stripe_sim.store import Store, new_id, now

__all__ = ["WebhookEndpoint", "Webhooks", "sign"]

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def sign(payload: str, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header of `payload` signed at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass(slots=True)
class WebhookEndpoint:
    """Where events go; `enabled_events` holds types or `*`."""

    id: str
    url: str
    secret: str
    enabled_events: list[str] = field(default_factory=lambda: ["*"])
    created: int = field(default_factory=now)

    def wants(self, event_type: str) -> bool:
        return "*" in self.enabled_events or event_type in self.enabled_events

    def as_dict(self) -> Obj:
        # The secret is shown, as Stripe shows it once at creation: this is a test tool.
        return {
            "id": self.id,
            "object": "webhook_endpoint",
            "url": self.url,
            "secret": self.secret,
            "enabled_events": self.enabled_events,
            "created": self.created,
            "livemode": False,
            "status": "enabled",
        }


class Webhooks:
    """Registered endpoints, created events and the log of delivery attempts."""

    def __init__(self, store: Store, timeout_s: float) -> None:
        self._store = store
        self._timeout_s = timeout_s
        self.endpoints: dict[str, WebhookEndpoint] = {}
        self.deliveries: list[Obj] = []
        self._delivery_ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[list[Obj]]] = set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout_s))

    async def close(self) -> None:
        await stop_tasks(*self._tasks)
        if self._session is not None:
            await self._session.close()

    def add_endpoint(self, url: str, secret: str, enabled_events: list[str]) -> WebhookEndpoint:
        endpoint = WebhookEndpoint(new_id("we"), url, secret, enabled_events)
        self.endpoints[endpoint.id] = endpoint
        return endpoint

    def create_event(
        self,
        event_type: str,
        obj: Obj,
        *,
        previous_attributes: Obj | None = None,
        request_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Obj:
        """Store an event carrying a snapshot of `obj` (later changes to `obj` don't leak into it)."""
        data: Obj = {"object": copy.deepcopy(obj)}
        if previous_attributes:
            data["previous_attributes"] = previous_attributes
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": sum(1 for endpoint in self.endpoints.values() if endpoint.wants(event_type)),
            "request": {"id": request_id, "idempotency_key": idempotency_key},
            "type": event_type,
        }
        return self._store.add(event)

    def deliver_soon(self, event: Obj) -> None:
        """Deliver in the background (events raised by API calls)."""
        if not any(endpoint.wants(event["type"]) for endpoint in self.endpoints.values()):
            return
        task = asyncio.get_running_loop().create_task(self.deliver(event), name=f"deliver {event['id']}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for background deliveries still in flight."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def deliver(self, event: Obj, *, signed_at: int | None = None) -> list[Obj]:
        """POST `event` to every endpoint that wants it; returns the recorded attempts."""
        payload = orjson.dumps(event).decode()
        targets = [endpoint for endpoint in self.endpoints.values() if endpoint.wants(event["type"])]
        results = await asyncio.gather(*(self._post(endpoint, event, payload, signed_at) for endpoint in targets))
        return list(results)

    async def _post(self, endpoint: WebhookEndpoint, event: Obj, payload: str, signed_at: int | None) -> Obj:
        assert self._session is not None, "Webhooks.start() was not awaited"
        timestamp = int(time.time()) if signed_at is None else signed_at
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(payload, endpoint.secret, timestamp),
        }
        record: Obj = {
            "id": next(self._delivery_ids),
            "event": event["id"],
            "type": event["type"],
            "endpoint": endpoint.id,
            "url": endpoint.url,
            "signed_at": timestamp,
            "status": None,
            "ok": False,
            "error": None,
            "response": None,
        }
        try:
            async with self._session.post(endpoint.url, data=payload.encode(), headers=headers) as response:
                body = await response.text(errors="replace")
                record.update(status=response.status, ok=200 <= response.status < 300, response=body[:500])
        except (aiohttp.ClientError, TimeoutError) as exc:
            record["error"] = repr(exc)[:500]
            log.warning("webhook delivery failed", extra={"url": endpoint.url, "error": repr(exc)})
        self.deliveries.append(record)
        return record

    def reset(self) -> None:
        self.endpoints.clear()
        self.deliveries.clear()
