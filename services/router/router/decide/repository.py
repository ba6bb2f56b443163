"""SQL of `router_decisions` (RLS: the session is bound to the tenant)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["insert_decision", "decision_ref", "earlier_attempt", "recent_decisions"]

_REF = "id, tier, allowed, context_key, stronger_allowed, router_version, expected_cost_usd, created_at"


async def insert_decision(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Store one decision; False when its id is already there (a redelivered event)."""
    result = await session.execute(
        text(
            "insert into router_decisions (id, tenant_id, created_at, router_version, canary, tier, model, reason,"
            " allowed, stronger_allowed, p_success, expected_cost_usd, latency_ms, context_key, conversation_key,"
            " request_hash) values (:id, :tenant_id, :created_at, :router_version, :canary, :tier, :model, :reason,"
            " :allowed, :stronger_allowed, cast(:p_success as jsonb), :expected_cost_usd, :latency_ms, :context_key,"
            " :conversation_key, :request_hash) on conflict (id) do nothing returning 1"
        ),
        {**values, "p_success": orjson.dumps(values["p_success"]).decode()},
    )
    return result.first() is not None


async def decision_ref(session: AsyncSession, decision_id: uuid.UUID) -> dict[str, Any] | None:
    """What a reward needs of its decision, or None (not projected yet, or another tenant's)."""
    row = (
        await session.execute(
            text(f"select {_REF} from router_decisions where id = :id"),  # noqa: S608  # nosec B608 - constant
            {"id": decision_id},
        )
    ).first()
    return None if row is None else dict(row._mapping)


async def earlier_attempt(
    session: AsyncSession, *, request_hash: str, decision_id: uuid.UUID, since: datetime, until: datetime
) -> dict[str, Any] | None:
    """The latest other decision on the same messages in [since, until], or None."""
    row = (
        await session.execute(
            text(
                f"select {_REF} from router_decisions "  # noqa: S608  # nosec B608 - constant columns
                "where request_hash = :hash and id <> :id and created_at >= :since and created_at <= :until "
                "order by created_at desc, id limit 1"
            ),
            {"hash": request_hash, "id": decision_id, "since": since, "until": until},
        )
    ).first()
    return None if row is None else dict(row._mapping)


async def recent_decisions(session: AsyncSession, limit: int) -> list[dict[str, Any]]:
    """The tenant's latest decisions, newest first."""
    result = await session.execute(
        text(
            "select id, created_at, router_version, canary, tier, model, reason, allowed, p_success, expected_cost_usd,"
            " latency_ms, context_key from router_decisions order by created_at desc, id limit :limit"
        ),
        {"limit": limit},
    )
    return [dict(row) for row in result.mappings()]
