"""The router service's POST /v1/router/decide over the client's own keep-alive connections (routing/connections.py),
bounded by a short deadline."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from gateway.routing.connections import DecideConnections

__all__ = ["DECIDE_PATH", "FailureCause", "RouterClient", "RouterFailed", "RouterReply", "parse_reply"]

DECIDE_PATH = "/v1/router/decide"

FailureCause = Literal["not_configured", "breaker_open", "deadline", "connect", "status_5xx", "status_4xx", "bad_reply"]

# The reasons a router decision may carry (the usage event's `router_reason` enum).
REASONS = frozenset({"early_exit", "classifier", "bandit", "explore", "fallback", "pinned"})


class RouterFailed(Exception):
    """No usable decision from the router; `cause` says why (a metric label)."""

    def __init__(self, cause: FailureCause, detail: str = "") -> None:
        super().__init__(f"router {cause}: {detail}" if detail else f"router {cause}")
        self.cause: FailureCause = cause
        self.detail = detail

    @property
    def router_down(self) -> bool:
        """Does this failure count against the router's circuit breaker (it did not answer, or answered 5xx)?"""
        return self.cause in ("deadline", "connect", "status_5xx")


@dataclass(frozen=True, slots=True)
class RouterReply:
    """The parts of a decision the gateway acts on."""

    decision_id: str
    tier: str
    alias: str
    reason: str
    router_version: str | None


def parse_reply(raw: bytes) -> RouterReply:
    """A decide reply -> RouterReply; RouterFailed("bad_reply") when it is not the documented JSON."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RouterFailed("bad_reply", "not JSON") from exc
    if not isinstance(body, dict):
        raise RouterFailed("bad_reply", "not a JSON object")
    fields = {name: body.get(name) for name in ("decision_id", "tier", "model", "reason")}
    missing = [name for name, value in fields.items() if not isinstance(value, str) or not value]
    if missing:
        raise RouterFailed("bad_reply", f"missing or empty {', '.join(missing)}")
    if fields["reason"] not in REASONS:
        raise RouterFailed("bad_reply", f"unknown reason {fields['reason']!r}")
    version = body.get("router_version")
    return RouterReply(
        decision_id=str(fields["decision_id"]),
        tier=str(fields["tier"]),
        alias=str(fields["model"]),
        reason=str(fields["reason"]),
        router_version=version if isinstance(version, str) else None,
    )


class RouterClient:
    """Calls decide as the gateway (service credential + the tenant's id); every failure is a RouterFailed."""

    def __init__(self, base_url: str, service_token: str, deadline_s: float) -> None:
        self._url = base_url.rstrip("/") + DECIDE_PATH
        self._connections = DecideConnections(self._url)
        self._token = service_token
        self.deadline_s = deadline_s

    async def decide(self, tenant_id: str, body: dict[str, Any]) -> RouterReply:
        """POST the decide body; at most `deadline_s` from the first byte sent to the last byte read."""
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {self._token}",
            "X-Aiaas-Tenant-Id": tenant_id,
        }
        data = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        try:
            async with asyncio.timeout(self.deadline_s):
                reply = await self._connections.post(data, headers)
        except TimeoutError as exc:
            raise RouterFailed("deadline", f"no answer within {self.deadline_s * 1000:g} ms") from exc
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise RouterFailed("connect", repr(exc)) from exc
        status, raw = reply.status, reply.body
        if status >= 500:
            raise RouterFailed("status_5xx", f"HTTP {status}: {raw[:200]!r}")
        if status != 200:
            raise RouterFailed("status_4xx", f"HTTP {status}: {raw[:200]!r}")
        return parse_reply(raw)

    def close(self) -> None:
        """Close the idle connections (at shutdown)."""
        self._connections.close()
