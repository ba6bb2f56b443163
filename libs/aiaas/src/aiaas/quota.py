"""Plan quota state in Redis: the contract between billing (writes it) and the gateway (enforces it).

One hash per tenant, `quota:{tenant_id}`, fields (all strings):

- `period_start`   ISO-8601 start of the open billing period (billing's business; the gateway ignores it)
- `token_limit`    tokens the tenant may use in the period before requests are refused; -1 = no limit
- `request_limit`  requests the tenant may make in the period; -1 = no limit
- `used_tokens`    tokens used in the period as far as the edge knows
- `used_requests`  requests made in the period as far as the edge knows
- `credit_minor`   prepaid balance in minor units; while > 0 the tenant may go past `token_limit`
                   (the overage is debited from the balance as usage lands)
- `limit_name`     human words for the limit, used in the 429 message ("plan 'free': 100000 tokens per period")

The gateway checks before each request (`used_tokens < token_limit` or credit left, and the same for
requests) and adds what the request used when it ends (`add_usage`), so concurrent requests overshoot by
at most what is in flight. Billing reconciles from Postgres (`reconcile`): the counters only move up to the
committed totals, never down within a period, so the edge's early increments are not undone; a new period
(a different `period_start`) resets them to the new period's totals. A missing hash means no quota.

Redis is a cache of these states, never their record: billing's publishes also set `PUBLISHED_KEY`,
and the billing meter checks for it several times a second; when it is gone (Redis restarted empty,
or flushed) the meter publishes every tenant's state again at once, so quotas hold again within a second.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis.asyncio as redis_asyncio

__all__ = [
    "QuotaState",
    "QuotaCheck",
    "quota_key",
    "reconcile",
    "check",
    "add_usage",
    "CHECK_LUA",
    "ADD_USAGE_LUA",
    "quota_message",
    "UNLIMITED",
    "PUBLISHED_KEY",
]

UNLIMITED = -1

# Set with every full publish of the quota states: its absence means Redis lost them.
PUBLISHED_KEY = "quota:published"


def quota_key(tenant_id: uuid.UUID | str) -> str:
    return f"quota:{tenant_id}"


@dataclass(frozen=True)
class QuotaState:
    """What billing knows about a tenant's open period (committed totals from Postgres)."""

    period_start: str
    token_limit: int
    request_limit: int
    used_tokens: int
    used_requests: int
    credit_minor: int
    limit_name: str


@dataclass(frozen=True)
class QuotaCheck:
    allowed: bool
    # Which limit refused the request ("tokens" or "requests"), and the words for it.
    exceeded: str | None = None
    message: str | None = None


# KEYS[1] quota hash. ARGV: period_start, token_limit, request_limit, used_tokens, used_requests,
# credit_minor, limit_name. Same period: counters become max(stored, committed). New period: replaced.
RECONCILE_LUA = """
local stored_period = redis.call('HGET', KEYS[1], 'period_start')
if stored_period == ARGV[1] then
    local ut = tonumber(redis.call('HGET', KEYS[1], 'used_tokens') or '0')
    local ur = tonumber(redis.call('HGET', KEYS[1], 'used_requests') or '0')
    if tonumber(ARGV[4]) > ut then redis.call('HSET', KEYS[1], 'used_tokens', ARGV[4]) end
    if tonumber(ARGV[5]) > ur then redis.call('HSET', KEYS[1], 'used_requests', ARGV[5]) end
else
    redis.call('HSET', KEYS[1], 'period_start', ARGV[1], 'used_tokens', ARGV[4], 'used_requests', ARGV[5])
end
redis.call('HSET', KEYS[1], 'token_limit', ARGV[2], 'request_limit', ARGV[3], 'credit_minor', ARGV[6],
    'limit_name', ARGV[7])
return 1
"""

# KEYS[1] quota hash. Returns {allowed (1/0), exceeded ("tokens"|"requests"|""), limit_name}.
CHECK_LUA = """
local v = redis.call('HMGET', KEYS[1], 'token_limit', 'request_limit', 'used_tokens', 'used_requests',
    'credit_minor', 'limit_name')
if not v[1] then return {1, '', ''} end
local token_limit, request_limit = tonumber(v[1]), tonumber(v[2] or '-1')
local used_tokens, used_requests = tonumber(v[3] or '0'), tonumber(v[4] or '0')
local credit = tonumber(v[5] or '0')
if request_limit >= 0 and used_requests >= request_limit then return {0, 'requests', v[6] or ''} end
if token_limit >= 0 and used_tokens >= token_limit and credit <= 0 then return {0, 'tokens', v[6] or ''} end
return {1, '', ''}
"""

# KEYS[1] quota hash. ARGV: tokens, requests. Counts only while billing has written the hash.
ADD_USAGE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'used_tokens', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'used_requests', ARGV[2])
return 1
"""


async def reconcile(client: redis_asyncio.Redis, tenant_id: uuid.UUID | str, state: QuotaState) -> None:
    """Billing: publish the tenant's limits and committed totals (called after commits and on plan changes)."""
    await client.eval(
        RECONCILE_LUA,
        1,
        quota_key(tenant_id),
        state.period_start,
        state.token_limit,
        state.request_limit,
        state.used_tokens,
        state.used_requests,
        state.credit_minor,
        state.limit_name,
    )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def quota_message(exceeded: str, limit_name: str) -> str:
    what = "token" if exceeded == "tokens" else "request"
    name = f" ({limit_name})" if limit_name else ""
    return f"Quota exceeded: the {what} quota of your plan for this billing period is used up{name}."


async def check(client: redis_asyncio.Redis, tenant_id: uuid.UUID | str) -> QuotaCheck:
    """Gateway: may this tenant start another request? (One EVAL; the gateway may fold it into its own.)"""
    allowed, exceeded, limit_name = await client.eval(CHECK_LUA, 1, quota_key(tenant_id))
    if int(allowed):
        return QuotaCheck(True)
    kind = _text(exceeded)
    return QuotaCheck(False, kind, quota_message(kind, _text(limit_name)))


async def add_usage(client: redis_asyncio.Redis, tenant_id: uuid.UUID | str, tokens: int, requests: int = 1) -> None:
    """Gateway: count a finished request against the period at once (billing's commit follows later)."""
    await client.eval(ADD_USAGE_LUA, 1, quota_key(tenant_id), tokens, requests)
