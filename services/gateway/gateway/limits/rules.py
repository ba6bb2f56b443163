"""What a rate-limit check decided, and what a finished request settles: pure data and arithmetic.

Over the levels the Lua script returns (gateway/limits/service.py does the Redis part): which bucket is tightest,
when it refills, and what the 429's `Retry-After` and `x-ratelimit-*` say; and a `Settlement`'s script arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from aiaas.quota import quota_message

__all__ = [
    "BUCKET_NAMES",
    "UNLIMITED",
    "UNLIMITED_RESERVED",
    "Bucket",
    "LimitDecision",
    "Limits",
    "Settlement",
    "capacities",
    "decide",
    "decide_quota",
    "format_reset",
]

WINDOW_S = 60.0
BUCKET_NAMES = ("tenant_requests", "tenant_tokens", "key_requests", "key_tokens")


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
    # Set when the plan quota refused the request: "tokens" or "requests", and the words for the 429.
    quota_exceeded: str | None = None
    quota_message: str | None = None
    # True when admission reserved 1 request and the estimated tokens in the quota hash (settle corrects it).
    quota_reserved: bool = False

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
        if not self.allowed and self.quota_exceeded is None:  # a used-up quota returns next period
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


@dataclass(frozen=True)
class Bucket:
    """One bucket's capacity, what this request needs from it, and its level after the script ran."""

    name: str
    capacity: int
    need: float
    level: float

    @property
    def rate_per_s(self) -> float:
        return self.capacity / WINDOW_S

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.level))

    @property
    def reset_s(self) -> float:
        return max(0.0, (self.capacity - self.level) / self.rate_per_s)

    @property
    def wait_s(self) -> float:
        return max(0.0, (self.need - self.level) / self.rate_per_s)


UNLIMITED = LimitDecision(True, 0.0, None, None, None, None, None, None, None)
UNLIMITED_RESERVED = replace(UNLIMITED, quota_reserved=True)


def capacities(tenant_limits: Limits, key_limits: Limits) -> list[int]:
    return [
        tenant_limits.requests_per_minute or 0,
        tenant_limits.tokens_per_minute or 0,
        key_limits.requests_per_minute or 0,
        key_limits.tokens_per_minute or 0,
    ]


def decide(allowed: bool, buckets: list[Bucket]) -> LimitDecision:
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


def decide_quota(exceeded: str, limit_name: str, buckets: list[Bucket]) -> LimitDecision:
    """Refused by the plan quota: the buckets (untouched) still report their levels."""
    decision = decide(True, buckets)
    return LimitDecision(
        allowed=False,
        retry_after_s=0.0,
        limit_requests=decision.limit_requests,
        remaining_requests=decision.remaining_requests,
        reset_requests_s=decision.reset_requests_s,
        limit_tokens=decision.limit_tokens,
        remaining_tokens=decision.remaining_tokens,
        reset_tokens_s=decision.reset_tokens_s,
        blocked_by="quota",
        quota_exceeded=exceeded,
        quota_message=quota_message(exceeded, limit_name),
    )


def _tightest(buckets: list[Bucket]) -> Bucket | None:
    """The bucket with the fewest whole units left; on a tie, the one that takes longest to refill."""
    return min(buckets, key=lambda b: (b.remaining, -b.reset_s), default=None)


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a request used, settled once its response is known against what admission debited."""

    tenant_id: str
    key_id: str
    # The limits admission debited (empty Limits when it debited none: then only the quota is settled).
    tenant_limits: Limits
    key_limits: Limits
    estimated_tokens: int
    actual_tokens: int
    # With `quota_key`, `quota_delta` (tokens, requests) is added to the plan quota: by default the request and
    # its actual tokens; after a reservation at admission, only the correction.
    quota_key: str | None = None
    quota_delta: tuple[int, int] | None = None

    def script_args(self) -> list[str | int] | None:
        """The Lua script's settle arguments: token buckets charged `actual - estimated`; None if nothing to do."""
        actual = max(0, self.actual_tokens)
        delta = actual - max(0, self.estimated_tokens)
        token_capacities = [0, self.tenant_limits.tokens_per_minute or 0, 0, self.key_limits.tokens_per_minute or 0]
        if delta == 0 or not any(token_capacities):
            if self.quota_key is None:
                return None
            token_capacities = [0, 0, 0, 0]
        quota_tokens, quota_requests = self.quota_delta if self.quota_delta is not None else (actual, 1)
        return ["settle", *token_capacities, 0, delta, quota_tokens, quota_requests]
