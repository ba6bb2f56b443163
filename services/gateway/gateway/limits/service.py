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
requests are used up; `settle` adds what the request used to it. So quota costs no extra round trip.

Every script call goes through one `aiaas.batcher.Batcher`, in order, one round trip in flight at a time:
`settle_soon` queues a settle, which lingers up to `linger_s`; an `acquire` goes at once and carries the
queued settles ahead of itself in its own round trip (so a client's next request still sees its previous one
settled). While a round trip is in flight, the calls that arrive wait and go together in the next (one
connection checkout, one write, the replies read from one buffer), so under load a round trip carries many
requests; an acquire that finds none in flight goes from its own task, with no hop.
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

from aiaas.batcher import Batcher, FlushCancelled
from aiaas.quota import ADD_USAGE_LUA, CHECK_LUA
from gateway.limits.rules import (
    BUCKET_NAMES,
    UNLIMITED,
    UNLIMITED_RESERVED,
    Bucket,
    LimitDecision,
    Limits,
    Settlement,
    capacities,
    decide,
    decide_quota,
    format_reset,
)

__all__ = ["Limits", "LimitDecision", "RateLimiter", "Settlement", "format_reset"]

log = logging.getLogger(__name__)

# One script call: its keys and its arguments.
_Call = tuple[list[str], list[str | int]]
# The most calls one round trip carries (beyond it, the next round trip takes the rest).
_MAX_BATCH = 1024


@cache
def _script_source() -> str:
    # Billing's quota snippets, wrapped as Lua functions (their KEYS/ARGV become parameters).
    quota = (
        f"local function quota_check(KEYS)\n{CHECK_LUA}\nend\n"
        f"local function quota_add(KEYS, ARGV)\n{ADD_USAGE_LUA}\nend\n"
    )
    return quota + resources.files("gateway.limits").joinpath("rate_limit.lua").read_text(encoding="utf-8")


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
        self._calls: Batcher[_Call, object] = Batcher(
            self._send, linger_s=linger_s, max_size=_MAX_BATCH, name="rate-limit calls"
        )

    @property
    def pending(self) -> int:
        """Script calls queued or in flight (settles waiting for a round trip, acquires waiting for theirs)."""
        return self._calls.pending

    async def _run(self, keys: list[str], args: list[str | int]) -> object:
        try:
            return await self._redis.evalsha(self._script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._script(keys=keys, args=args)

    async def _send(self, calls: list[_Call]) -> list[object]:
        """The calls in one round trip, in order; per call its reply or its error (lost settles are logged)."""
        try:
            replies = await self._round_trip(calls)
        except (RedisError, OSError) as exc:
            replies = [exc] * len(calls)
        else:
            for i, reply in enumerate(replies):
                if isinstance(reply, NoScriptError):  # Redis restarted empty: load the script and redo the call
                    try:
                        replies[i] = await self._run(*calls[i])
                    except (RedisError, OSError) as exc:
                        replies[i] = exc
        _log_lost_settles(calls, replies)
        return replies

    async def _round_trip(self, calls: list[_Call]) -> list[object]:
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

    async def _exchange(self, conn: Any, calls: list[_Call]) -> list[object]:
        """Write the calls at once, then read one reply per call (errors as values)."""
        sha = self._script.sha
        # hiredis's stub types its argument as a 1-tuple; any length is accepted.
        packed = b"".join(
            [pack_command(("EVALSHA", sha, len(keys), *keys, *args)) for keys, args in calls]  # type: ignore[arg-type]
        )
        await conn.send_packed_command(packed, check_health=False)
        results: list[object] = []
        for _ in calls:
            try:
                results.append(await conn.read_response())
            except ResponseError as exc:  # read whole: the connection stays in step
                results.append(exc)
        return results

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
        try:
            answer = await self._calls.submit((keys, ["acquire", *caps, 1, estimated]), linger=False)
        except FlushCancelled as exc:  # another request's round trip carried ours and was cancelled
            raise RedisError("rate limiter: the round trip was cancelled") from exc
        reply = _text(answer).split("|", 7)
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

    async def settle(self, settlement: Settlement) -> None:
        """Charge the token buckets `actual - estimated` (a refund when negative; overuse becomes debt).

        With `quota_key`, also add `quota_delta` to the plan quota (see `Settlement`).
        """
        call = self._settle_call(settlement)
        if call is not None:
            await self._run(*call)

    def settle_soon(self, settlement: Settlement) -> None:
        """`settle` without waiting: queued, then sent ahead of the next `acquire` in its round trip.

        Settles nobody picks up within `linger_s` go out together on their own, one round trip at a time.
        """
        call = self._settle_call(settlement)
        if call is not None:
            self._calls.submit_nowait(call)

    async def flush(self) -> None:
        """Send every queued settle now; a Redis failure is logged, not raised."""
        await self._calls.flush()

    async def drain(self) -> None:
        """Apply every queued settle now (graceful shutdown)."""
        await self._calls.flush()

    def _settle_call(self, settlement: Settlement) -> _Call | None:
        args = settlement.script_args()
        if args is None:
            return None
        keys = self.bucket_keys(settlement.tenant_id, settlement.key_id)
        if settlement.quota_key is not None:
            keys.append(settlement.quota_key)
        return keys, args


def _log_lost_settles(calls: list[_Call], replies: list[object]) -> None:
    # Limits and the edge's quota counter are best effort; billing reconciles the quota from Postgres.
    errors = [
        r for (_, args), r in zip(calls, replies, strict=True) if isinstance(r, Exception) and args[0] == "settle"
    ]
    if errors:
        log.warning("rate limiter: settles not applied", extra={"count": len(errors), "error": repr(errors[0])})


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
