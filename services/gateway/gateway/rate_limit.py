"""Per-tenant and per-key requests/min and tokens/min limits: token buckets in Redis, one Lua call each.

Each limit is a continuous-refill bucket: capacity = the per-minute limit, refilled at limit/60 per second
on Redis server time, so every gateway process sharing the Redis sees the same buckets. `acquire` admits a
request only if all four buckets (tenant requests, tenant tokens, key requests, key tokens) have room and
then debits all of them; a rejected request debits nothing. A request bucket needs 1 unit; a token bucket
needs the estimated tokens, or a full bucket when the estimate exceeds the limit, so one big request can
still pass when idle (and leaves the bucket in debt). `settle` charges the difference between the actual and
the estimated tokens once the response is known; overuse leaves debt that later requests wait out.

The same script call also enforces the plan quota (aiaas.quota, written by billing): `acquire` checks the
tenant's `quota:{tenant_id}` hash first and refuses without debiting any bucket when the period's tokens or
requests are used up; `settle` adds what the request used to it. So quota costs no extra round trip, and
`settle_soon` batches settles: the next `acquire` carries the queued ones ahead of itself in its own round
trip (so a client's next request still sees its previous one settled), and a quiet spell of `linger_s` sends
them on their own in one pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

import redis.asyncio as redis_asyncio
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError, ResponseError

from aiaas.quota import ADD_USAGE_LUA, CHECK_LUA, quota_message

__all__ = ["Limits", "LimitDecision", "RateLimiter", "format_reset"]

log = logging.getLogger(__name__)

_WINDOW_S = 60.0
_BUCKET_NAMES = ("tenant_requests", "tenant_tokens", "key_requests", "key_tokens")
# One script call: its keys and its arguments.
_Call = tuple[list[str], list[str | int]]


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


@cache
def _script_source() -> str:
    # Billing's quota snippets, wrapped as Lua functions (their KEYS/ARGV become parameters).
    quota = (
        f"local function quota_check(KEYS)\n{CHECK_LUA}\nend\n"
        f"local function quota_add(KEYS, ARGV)\n{ADD_USAGE_LUA}\nend\n"
    )
    return quota + resources.files("gateway").joinpath("rate_limit.lua").read_text(encoding="utf-8")


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

    def __init__(self, redis: redis_asyncio.Redis, *, prefix: str = "rl", linger_s: float = 0.0) -> None:
        self.prefix = prefix
        self._redis = redis
        # Kept for its SHA and for loading the script on NOSCRIPT; calls go straight to EVALSHA
        # because AsyncScript.__call__ pays a typing.Protocol isinstance check on every call.
        self._script: AsyncScript = redis.register_script(_script_source())
        self._linger_s = linger_s
        self._pending: list[_Call] = []
        self._flusher: asyncio.Task[None] | None = None
        self._linger: asyncio.TimerHandle | None = None

    async def _run(self, keys: list[str], args: list[str | int]) -> Any:
        try:
            return await self._redis.evalsha(self._script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._script(keys=keys, args=args)

    async def _run_after_pending(self, keys: list[str], args: list[str | int]) -> Any:
        """One script call, preceded in the same round trip by every queued settle."""
        batch = self._take_pending()
        try:
            results = await self._round_trip([*batch, (keys, args)])
        except (RedisError, OSError) as exc:
            if batch:
                _settles_lost(batch, exc)
            raise
        try:
            await self._redo_missing_script(batch, results[:-1])
        except (RedisError, OSError) as exc:
            _settles_lost(batch, exc)
        if isinstance(results[-1], NoScriptError):
            return await self._run(keys, args)
        if isinstance(results[-1], Exception):
            raise results[-1]
        return results[-1]

    async def _round_trip(self, calls: list[_Call]) -> list[Any]:
        """EVALSHA each call on one pooled connection, written at once; errors come back as values.

        What the client's Pipeline does, without its per-call command stack and retry wrapper (a third of
        this path's cost at one request at a time).
        """
        pool = self._redis.connection_pool
        conn = await pool.get_connection()
        try:
            sha = self._script.sha
            commands = [("EVALSHA", sha, len(keys), *keys, *args) for keys, args in calls]
            await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
            results: list[Any] = []
            for _ in calls:
                try:
                    results.append(await conn.read_response())
                except ResponseError as exc:  # read whole: the connection stays in step
                    results.append(exc)
        except BaseException:
            await conn.disconnect()  # replies may still be on the way: never reuse this connection
            raise
        finally:
            await pool.release(conn)
        return results

    async def _redo_missing_script(self, calls: list[_Call], results: list[Any]) -> None:
        for (keys, args), result in zip(calls, results, strict=True):
            if isinstance(result, NoScriptError):  # Redis restarted: load the script and redo it
                await self._run(keys, args)
            elif isinstance(result, Exception):
                raise result

    def bucket_keys(self, tenant_id: str, key_id: str) -> list[str]:
        """The four Redis keys, hash-tagged by tenant so one script's keys share a cluster slot."""
        tenant = f"{self.prefix}:{{{tenant_id}}}"
        return [f"{tenant}:req", f"{tenant}:tok", f"{tenant}:key:{key_id}:req", f"{tenant}:key:{key_id}:tok"]

    async def acquire(
        self,
        *,
        tenant_id: str,
        key_id: str,
        tenant_limits: Limits,
        key_limits: Limits,
        estimated_tokens: int,
        quota_key: str | None = None,
    ) -> LimitDecision:
        """Admit one request of `estimated_tokens` and debit every bucket, or reject and debit nothing.

        With `quota_key` (aiaas.quota.quota_key) the plan quota is checked first, in the same call.
        """
        capacities = _capacities(tenant_limits, key_limits)
        if not any(capacities) and quota_key is None:
            return _UNLIMITED
        estimated = max(0, estimated_tokens)
        keys = self.bucket_keys(tenant_id, key_id)
        if quota_key is not None:
            keys.append(quota_key)
        reply = _text(await self._run_after_pending(keys, ["acquire", *capacities, 1, estimated])).split("|", 7)
        allowed = reply[0] == "1"
        buckets = [
            _Bucket(name, cap, min(max(cost, 1), cap), float(raw))
            for name, cap, cost, raw in zip(_BUCKET_NAMES, capacities, (1, estimated) * 2, reply[1:5], strict=True)
            if cap
        ]
        if exceeded := reply[5]:
            return _decide_quota(exceeded, reply[7], buckets)
        reserved = reply[6] == "1"
        if not buckets:
            return _UNLIMITED_RESERVED if reserved else _UNLIMITED
        decision = _decide(allowed, buckets)
        return replace(decision, quota_reserved=True) if reserved else decision

    async def settle(
        self,
        *,
        tenant_id: str,
        key_id: str,
        tenant_limits: Limits,
        key_limits: Limits,
        estimated_tokens: int,
        actual_tokens: int,
        quota_key: str | None = None,
        quota_delta: tuple[int, int] | None = None,
    ) -> None:
        """Charge the token buckets `actual - estimated` (a refund when negative; overuse becomes debt).

        With `quota_key`, also add `quota_delta` (tokens, requests) to the plan quota: by default the request
        and its `actual_tokens`; after a reservation at admission, only the correction.
        """
        call = self._settle_call(
            tenant_id, key_id, tenant_limits, key_limits, estimated_tokens, actual_tokens, quota_key, quota_delta
        )
        if call is not None:
            await self._run(*call)

    def settle_soon(
        self,
        *,
        tenant_id: str,
        key_id: str,
        tenant_limits: Limits,
        key_limits: Limits,
        estimated_tokens: int,
        actual_tokens: int,
        quota_key: str | None = None,
        quota_delta: tuple[int, int] | None = None,
    ) -> None:
        """`settle` without waiting: queued, then sent ahead of the next `acquire` in its round trip.

        Settles nobody picks up within `linger_s` go out together in one pipeline, one flush at a time:
        settles queued while a flush waits for Redis go out together in the next.
        """
        call = self._settle_call(
            tenant_id, key_id, tenant_limits, key_limits, estimated_tokens, actual_tokens, quota_key, quota_delta
        )
        if call is None:
            return
        self._pending.append(call)
        if self._flusher is not None:
            return
        if self._linger_s <= 0:
            self._start_flush()
        elif self._linger is None:
            self._linger = asyncio.get_running_loop().call_later(self._linger_s, self._start_flush)

    def _take_pending(self) -> list[_Call]:
        batch, self._pending = self._pending, []
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        return batch

    def _start_flush(self) -> None:
        self._linger = None
        if self._flusher is None and self._pending:
            self._flusher = asyncio.create_task(self._flush_while_pending(), name="rate-limit settle")

    async def _flush_while_pending(self) -> None:
        try:
            while self._pending:
                await self.flush()
        finally:
            self._flusher = None

    async def flush(self) -> None:
        """Send every queued settle in one round trip; a Redis failure is logged, not raised."""
        batch = self._take_pending()
        if not batch:
            return
        try:
            await self._redo_missing_script(batch, await self._round_trip(batch))
        except (RedisError, OSError) as exc:
            _settles_lost(batch, exc)

    async def drain(self) -> None:
        """Apply every queued settle now (graceful shutdown)."""
        if self._flusher is not None:
            await self._flusher
        await self.flush()

    def _settle_call(
        self,
        tenant_id: str,
        key_id: str,
        tenant_limits: Limits,
        key_limits: Limits,
        estimated_tokens: int,
        actual_tokens: int,
        quota_key: str | None,
        quota_delta: tuple[int, int] | None,
    ) -> tuple[list[str], list[str | int]] | None:
        actual = max(0, actual_tokens)
        delta = actual - max(0, estimated_tokens)
        token_capacities = [0, tenant_limits.tokens_per_minute or 0, 0, key_limits.tokens_per_minute or 0]
        if delta == 0 or not any(token_capacities):
            if quota_key is None:
                return None
            token_capacities = [0, 0, 0, 0]
        keys = self.bucket_keys(tenant_id, key_id)
        if quota_key is not None:
            keys.append(quota_key)
        quota_tokens, quota_requests = quota_delta if quota_delta is not None else (actual, 1)
        return keys, ["settle", *token_capacities, 0, delta, quota_tokens, quota_requests]


def _settles_lost(batch: list[_Call], exc: BaseException) -> None:
    # Limits and the edge's quota counter are best effort; billing reconciles the quota from Postgres.
    log.warning("rate limiter: settles not applied", extra={"count": len(batch), "error": repr(exc)})


_UNLIMITED = LimitDecision(True, 0.0, None, None, None, None, None, None, None)
_UNLIMITED_RESERVED = replace(_UNLIMITED, quota_reserved=True)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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


def _decide_quota(exceeded: str, limit_name: str, buckets: list[_Bucket]) -> LimitDecision:
    """Refused by the plan quota: the buckets (untouched) still report their levels."""
    decision = _decide(True, buckets)
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


def _tightest(buckets: list[_Bucket]) -> _Bucket | None:
    """The bucket with the fewest whole units left; on a tie, the one that takes longest to refill."""
    return min(buckets, key=lambda b: (b.remaining, -b.reset_s), default=None)
