"""All SQL of the canary monitor: both arms' counts over a window, across tenants (platform_admin sessions).

An arm is the decisions of one router version in [start, end), canary-flagged or not (`router_decisions`, written
by the router's consumer). Per arm:

- misroutes: decisions with a stronger allowed tier (`stronger_allowed`) that got a quality failure signal
  (`router_rewards.outcome = 'failure'`: tenant feedback, a failed request, or a retry on a stronger tier; not a
  miss of the tenant's latency objective, `source = 'latency'`: a slow answer is not a wrong one);
- errors: decisions the version could not make itself (reason `fallback`: artifact not loadable, feature error,
  deadline);
- latency: p50 and p95 of `latency_ms`, and how many decisions were slower than a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["ArmRow", "arm_counts", "slow_count"]


@dataclass(frozen=True)
class ArmRow:
    n: int
    misroutes: int
    errors: int
    timed: int
    p50_ms: float | None
    p95_ms: float | None


_ARM = text(
    """
    select count(*) as n,
           count(*) filter (
               where d.stronger_allowed and exists (
                   select 1 from router_rewards r
                   where r.tenant_id = d.tenant_id and r.decision_id = d.id and r.outcome = 'failure'
                     and r.source <> 'latency'
               )
           ) as misroutes,
           count(*) filter (where d.reason = 'fallback') as errors,
           count(d.latency_ms) as timed,
           percentile_cont(0.5) within group (order by d.latency_ms) as p50_ms,
           percentile_cont(0.95) within group (order by d.latency_ms) as p95_ms
    from router_decisions d
    where d.router_version = :version and d.canary = :canary
      and d.created_at >= :start and d.created_at < :end
    """
)

_SLOW = text(
    """
    select count(*) from router_decisions d
    where d.router_version = :version and d.canary = :canary
      and d.created_at >= :start and d.created_at < :end and d.latency_ms > :threshold
    """
)


async def arm_counts(session: AsyncSession, *, version: str, canary: bool, start: datetime, end: datetime) -> ArmRow:
    row = (await session.execute(_ARM, {"version": version, "canary": canary, "start": start, "end": end})).one()
    return ArmRow(
        n=int(row.n),
        misroutes=int(row.misroutes),
        errors=int(row.errors),
        timed=int(row.timed),
        p50_ms=None if row.p50_ms is None else float(row.p50_ms),
        p95_ms=None if row.p95_ms is None else float(row.p95_ms),
    )


async def slow_count(
    session: AsyncSession, *, version: str, canary: bool, start: datetime, end: datetime, threshold_ms: float
) -> int:
    params = {"version": version, "canary": canary, "start": start, "end": end, "threshold": threshold_ms}
    return int((await session.execute(_SLOW, params)).scalar_one())
