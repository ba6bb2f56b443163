"""SQL of `router_policies` (RLS: the session is bound to the tenant)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["policy_row", "upsert_policy"]

_COLS = (
    "tiers, lambda, max_cost_usd, exploration_cap, early_exit_bar, pinned_tier, canary_share, latency_slo_ms,"
    " updated_at"
)


async def policy_row(session: AsyncSession) -> dict[str, Any] | None:
    """The tenant's policy row, or None (the platform default applies)."""
    row = (await session.execute(text(f"select {_COLS} from router_policies"))).first()  # noqa: S608  # nosec B608
    return None if row is None else dict(row._mapping)


async def upsert_policy(
    session: AsyncSession, tenant_id: uuid.UUID, values: dict[str, Any], now: datetime
) -> dict[str, Any]:
    row = (
        await session.execute(
            text(
                f"insert into router_policies (tenant_id, {_COLS}) "  # noqa: S608  # nosec B608 - constant columns
                "values (:tenant_id, cast(:tiers as jsonb), :lambda, :max_cost_usd, :exploration_cap, :early_exit_bar,"
                " :pinned_tier, :canary_share, :latency_slo_ms, :now) "
                "on conflict (tenant_id) do update set tiers = excluded.tiers, lambda = excluded.lambda,"
                " max_cost_usd = excluded.max_cost_usd, exploration_cap = excluded.exploration_cap,"
                " early_exit_bar = excluded.early_exit_bar, pinned_tier = excluded.pinned_tier,"
                " canary_share = excluded.canary_share, latency_slo_ms = excluded.latency_slo_ms,"
                " updated_at = excluded.updated_at "
                f"returning {_COLS}"
            ),
            {**values, "tiers": orjson.dumps(values["tiers"]).decode(), "tenant_id": tenant_id, "now": now},
        )
    ).one()
    return dict(row._mapping)
