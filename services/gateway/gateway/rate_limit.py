"""Per-tenant and per-key requests/min and tokens/min limits: token buckets in Redis, one Lua call each.

Each limit is a continuous-refill bucket: capacity = the per-minute limit, refilled at limit/60 per second
on Redis server time, so every gateway process sharing the Redis sees the same buckets. `acquire` admits a
request only if all four buckets (tenant requests, tenant tokens, key requests, key tokens) have room and
then debits all of them; a rejected request debits nothing. A request bucket needs 1 unit; a token bucket
needs the estimated tokens, or a full bucket when the estimate exceeds the limit, so one big request can
still pass when idle (and leaves the bucket in debt). `settle` charges the difference between the actual and
the estimated tokens once the response is known; overuse leaves debt that later requests wait out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import redis.asyncio as redis_asyncio
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

__all__ = ["Limits", "LimitDecision", "RateLimiter", "format_reset"]

_WINDOW_S = 60.0
_BUCKET_NAMES = ("tenant_requests", "tenant_tokens", "key_requests", "key_tokens")


@dataclass(frozen=True)
class Limits:
    """Per-minute limits for one tenant or one API key; None means unlimited."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


@dataclass(frozen=True)
class LimitDecision:
    """The outcome of `RateLimiter.acquire`, reporting the most constraining request and token bucket."""

    allowed: bool
    retry_after_s: float
    limit_requests: int | None
    remaining_requests: int | None
    reset_requests_s: float | None
    limit_tokens: int | None
    remaining_tokens: int | None
    reset_tokens_s: float | None
    blocked_by: str | None

    def headers(self) -> dict[str, str]:
        """OpenAI-style x-ratelimit-* headers, plus Retry-After when the request was rejected."""
        headers: dict[str, str] = {}
        if self.limit_requests is not None:
            headers["x-ratelimit-limit-requests"] = str(self.limit_requests)
            headers["x-ratelimit-remaining-requests"] = str(self.remaining_requests)
            headers["x-ratelimit-reset-requests"] = format_reset(self.reset_requests_s or 0.0)
        if self.limit_tokens is not None:
            headers["x-ratelimit-limit-tokens"] = str(self.limit_tokens)
            headers["x-ratelimit-remaining-tokens"] = str(self.remaining_tokens)
            headers["x-ratelimit-reset-tokens"] = format_reset(self.reset_tokens_s or 0.0)
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after_s)))
        return headers


def format_reset(seconds: float) -> str:
    """A duration the way OpenAI's reset headers write it: "20ms", "1.5s", "6m0s", "1h2m3s"."""
    total_ms = max(0, round(seconds * 1000))
    if total_ms < 1000:
        return f"{total_ms}ms" if total_ms else "0s"
    hours, rest_ms = divmod(total_ms, 3_600_000)
    minutes, rest_ms = divmod(rest_ms, 60_000)
    secs = f"{rest_ms / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


@cache
def _script_source() -> str:
    return resources.files("gateway").joinpath("rate_limit.lua").read_text(encoding="utf-8")


@dataclass(frozen=True)
class _Bucket:
    """One bucket's capacity, what this request needs from it, and its level after the script ran."""

    name: str
    capacity: int
    need: float
    level: float

    @property
    def rate_per_s(self) -> float:
        return self.capacity / _WINDOW_S

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.level))

    @property
    def reset_s(self) -> float:
        return max(0.0, (self.capacity - self.level) / self.rate_per_s)

    @property
    def wait_s(self) -> float:
        return max(0.0, (self.need - self.level) / self.rate_per_s)


class RateLimiter:
    """Token-bucket limiter shared by every gateway process that points at the same Redis."""

    def __init__(self, redis: redis_asyncio.Redis, *, prefix: str = "rl") -> None:
        self.prefix = prefix
        self._redis = redis
        # Kept for its SHA and for loading the script on NOSCRIPT; calls go straight to EVALSHA
        # because AsyncScript.__call__ pays a typing.Protocol isinstance check on every call.
        self._script: AsyncScript = redis.register_script(_script_source())

    async def _run(self, keys: list[str], args: list[str | int]) -> Any:
        try:
            return await self._redis.evalsha(self._script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._script(keys=keys, args=args)

    def bucket_keys(self, tenant_id: str, key_id: str) -> list[str]:
        """The four Redis keys, hash-tagged by tenant so one script's keys share a cluster slot."""
        tenant = f"{self.prefix}:{{{tenant_id}}}"
        return [f"{tenant}:req", f"{tenant}:tok", f"{tenant}:key:{key_id}:req", f"{tenant}:key:{key_id}:tok"]

    async def acquire(
        self, *, tenant_id: str, key_id: str, tenant_limits: Limits, key_limits: Limits, estimated_tokens: int
    ) -> LimitDecision:
        """Admit one request of `estimated_tokens` and debit every bucket, or reject and debit nothing."""
        capacities = _capacities(tenant_limits, key_limits)
        if not any(capacities):
            return LimitDecision(True, 0.0, None, None, None, None, None, None, None)
        estimated = max(0, estimated_tokens)
        reply = await self._run(self.bucket_keys(tenant_id, key_id), ["acquire", *capacities, 1, estimated])
        allowed = bool(int(reply[0]))
        buckets = [
            _Bucket(name, cap, min(max(cost, 1), cap), float(raw))
            for name, cap, cost, raw in zip(_BUCKET_NAMES, capacities, (1, estimated) * 2, reply[1:], strict=True)
            if cap
        ]
        return _decide(allowed, buckets)

    async def settle(
        self,
        *,
        tenant_id: str,
        key_id: str,
        tenant_limits: Limits,
        key_limits: Limits,
        estimated_tokens: int,
        actual_tokens: int,
    ) -> None:
        """Charge the token buckets `actual - estimated` (a refund when negative; overuse becomes debt)."""
        delta = max(0, actual_tokens) - max(0, estimated_tokens)
        token_capacities = [0, tenant_limits.tokens_per_minute or 0, 0, key_limits.tokens_per_minute or 0]
        if delta == 0 or not any(token_capacities):
            return
        await self._run(self.bucket_keys(tenant_id, key_id), ["settle", *token_capacities, 0, delta])


def _capacities(tenant_limits: Limits, key_limits: Limits) -> list[int]:
    return [
        tenant_limits.requests_per_minute or 0,
        tenant_limits.tokens_per_minute or 0,
        key_limits.requests_per_minute or 0,
        key_limits.tokens_per_minute or 0,
    ]


def _decide(allowed: bool, buckets: list[_Bucket]) -> LimitDecision:
    requests = _tightest([b for b in buckets if b.name.endswith("requests")])
    tokens = _tightest([b for b in buckets if b.name.endswith("tokens")])
    blocker = None if allowed else max(buckets, key=lambda b: b.wait_s)
    return LimitDecision(
        allowed=allowed,
        # Buckets only refill, so the slowest blocking bucket alone decides when all of them have room.
        retry_after_s=blocker.wait_s if blocker else 0.0,
        limit_requests=requests.capacity if requests else None,
        remaining_requests=requests.remaining if requests else None,
        reset_requests_s=requests.reset_s if requests else None,
        limit_tokens=tokens.capacity if tokens else None,
        remaining_tokens=tokens.remaining if tokens else None,
        reset_tokens_s=tokens.reset_s if tokens else None,
        blocked_by=blocker.name if blocker else None,
    )


def _tightest(buckets: list[_Bucket]) -> _Bucket | None:
    """The bucket with the fewest whole units left; on a tie, the one that takes longest to refill."""
    return min(buckets, key=lambda b: (b.remaining, -b.reset_s), default=None)
