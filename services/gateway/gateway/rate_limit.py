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
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import Any

import redis.asyncio as redis_asyncio
from hiredis import pack_command
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aiaas.quota import ADD_USAGE_LUA, CHECK_LUA
from gateway.limit_decision import (
    BUCKET_NAMES,
    UNLIMITED,
    UNLIMITED_RESERVED,
    Bucket,
    LimitDecision,
    Limits,
    capacities,
    decide,
    decide_quota,
    format_reset,
)

__all__ = ["Limits", "LimitDecision", "RateLimiter", "format_reset"]

log = logging.getLogger(__name__)

# One script call: its keys and its arguments.
_Call = tuple[list[str], list[str | int]]


@cache
def _script_source() -> str:
    # Billing's quota snippets, wrapped as Lua functions (their KEYS/ARGV become parameters).
    quota = (
        f"local function quota_check(KEYS)\n{CHECK_LUA}\nend\n"
        f"local function quota_add(KEYS, ARGV)\n{ADD_USAGE_LUA}\nend\n"
    )
    return quota + resources.files("gateway").joinpath("rate_limit.lua").read_text(encoding="utf-8")


class RateLimiter:
    """Token-bucket limiter shared by every gateway process that points at the same Redis."""

    def __init__(
        self, redis: redis_asyncio.Redis, *, prefix: str = "rl", linger_s: float = 0.0, timeout_s: float | None = None
    ) -> None:
        """`timeout_s` bounds each round trip (write and every reply): a hung Redis fails it with
        `redis.exceptions.TimeoutError` instead of holding the requests waiting on it."""
        self.prefix = prefix
        self._timeout_s = timeout_s
        self._redis = redis
        # Kept for its SHA and for loading the script on NOSCRIPT; calls go straight to EVALSHA
        # because AsyncScript.__call__ pays a typing.Protocol isinstance check on every call.
        self._script: AsyncScript = redis.register_script(_script_source())
        self._linger_s = linger_s
        self._pending: list[_Call] = []
        self._flusher: asyncio.Task[None] | None = None
        self._linger: asyncio.TimerHandle | None = None
        # Acquire coalescing (`_run_after_pending`): a round trip is in flight; who waits for the next.
        self._acquiring = False
        self._waiting: list[tuple[_Call, asyncio.Future[Any]]] = []
        self._waiters_task: asyncio.Task[None] | None = None

    async def _run(self, keys: list[str], args: list[str | int]) -> Any:
        try:
            return await self._redis.evalsha(self._script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._script(keys=keys, args=args)

    async def _run_after_pending(self, keys: list[str], args: list[str | int]) -> Any:
        """One acquire call, preceded in the same round trip by every queued settle.

        Acquires coalesce: while one round trip is in flight, later acquires wait and then go together in
        the next (one connection checkout, one write, the replies read from one buffer), so under load a
        round trip carries many requests; a request that finds none in flight goes at once, with no hop.
        """
        call = (keys, args)
        if self._acquiring:
            waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._waiting.append((call, waiter))
            return await waiter
        self._acquiring = True
        try:
            (result,) = await self._acquire_batch([call])
        finally:
            self._hand_over()
        if isinstance(result, Exception):
            raise result
        return result

    def _hand_over(self) -> None:
        """After a round trip: serve the acquires that queued meanwhile, or let the next one go at once."""
        if self._waiting:
            self._waiters_task = asyncio.create_task(self._serve_waiting(), name="rate-limit acquires")
        else:
            self._acquiring = False

    async def _serve_waiting(self) -> None:
        batch: list[tuple[_Call, asyncio.Future[Any]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    results: list[Any] = await self._acquire_batch([call for call, _ in batch])
                except Exception as exc:  # noqa: BLE001 - each waiter gets it, as a lone acquire would raise it
                    results = [exc] * len(batch)
                for (_, waiter), result in zip(batch, results, strict=True):
                    if waiter.done():  # its request was cancelled meanwhile
                        continue
                    if isinstance(result, Exception):
                        waiter.set_exception(result)
                    else:
                        waiter.set_result(result)
                batch = []
        finally:
            # Cancelled (shutdown): nobody may wait forever.
            for _, waiter in [*batch, *self._waiting]:
                if not waiter.done():
                    waiter.set_exception(RedisError("rate limiter stopped"))
            self._waiting = []
            self._acquiring = False
            self._waiters_task = None

    async def _acquire_batch(self, calls: list[_Call]) -> list[Any]:
        """The calls after every queued settle, in one round trip; per call its reply or its error."""
        settles = self._take_pending()
        try:
            results = await self._round_trip([*settles, *calls])
        except (RedisError, OSError) as exc:
            if settles:
                _settles_lost(settles, exc)
            raise
        try:
            await self._redo_missing_script(settles, results[: len(settles)])
        except (RedisError, OSError) as exc:
            _settles_lost(settles, exc)
        replies = results[len(settles) :]
        for i, ((keys, args), reply) in enumerate(zip(calls, replies, strict=True)):
            if isinstance(reply, NoScriptError):  # Redis restarted: load the script and redo the call
                try:
                    replies[i] = await self._run(keys, args)
                except (RedisError, OSError) as exc:
                    replies[i] = exc
        return replies

    async def _round_trip(self, calls: list[_Call]) -> list[Any]:
        """EVALSHA each call on one pooled connection, written at once; errors come back as values.

        What the client's Pipeline does, without its per-call command stack and retry wrapper (a third of
        this path's cost at one request at a time), and with the commands encoded by hiredis in C (redis-py's
        own encoder was 7 % of the gateway's CPU under load).
        """
        pool = self._redis.connection_pool
        conn = None
        try:
            # One timer for the whole round trip, the checkout included (a new connection's handshake waits
            # for replies too).
            async with asyncio.timeout(self._timeout_s):
                conn = await pool.get_connection()
                return await self._exchange(conn, calls)
        except BaseException as exc:
            if conn is not None:
                await conn.disconnect()  # replies may still be on the way: never reuse this connection
            if isinstance(exc, TimeoutError):
                raise RedisTimeoutError(f"Redis did not answer within {self._timeout_s}s") from exc
            raise
        finally:
            if conn is not None:
                await pool.release(conn)

    async def _exchange(self, conn: Any, calls: list[_Call]) -> list[Any]:
        """Write the calls at once, then read one reply per call (errors as values)."""
        sha = self._script.sha
        # hiredis's stub types its argument as a 1-tuple; any length is accepted.
        packed = b"".join(
            [pack_command(("EVALSHA", sha, len(keys), *keys, *args)) for keys, args in calls]  # type: ignore[arg-type]
        )
        await conn.send_packed_command(packed, check_health=False)
        results: list[Any] = []
        for _ in calls:
            try:
                results.append(await conn.read_response())
            except ResponseError as exc:  # read whole: the connection stays in step
                results.append(exc)
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
        caps = capacities(tenant_limits, key_limits)
        if not any(caps) and quota_key is None:
            return UNLIMITED
        estimated = max(0, estimated_tokens)
        keys = self.bucket_keys(tenant_id, key_id)
        if quota_key is not None:
            keys.append(quota_key)
        reply = _text(await self._run_after_pending(keys, ["acquire", *caps, 1, estimated])).split("|", 7)
        allowed = reply[0] == "1"
        buckets = [
            Bucket(name, cap, min(max(cost, 1), cap), float(raw))
            for name, cap, cost, raw in zip(BUCKET_NAMES, caps, (1, estimated) * 2, reply[1:5], strict=True)
            if cap
        ]
        if exceeded := reply[5]:
            return decide_quota(exceeded, reply[7], buckets)
        reserved = reply[6] == "1"
        if not buckets:
            return UNLIMITED_RESERVED if reserved else UNLIMITED
        decision = decide(allowed, buckets)
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


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
