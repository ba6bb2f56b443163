"""The `requests` table: one row per usage event, written once (a redelivered event id is a no-op).

Rows carry the cache's answer (`cache_status`: exact|semantic|miss|bypass, null on events from before the
cache) and, for the auto alias, the router's decision id, tier and reason and the alias the caller named
(`requested_alias`; `model_alias` is the alias that served). A platform service's call for an orchestrator run
carries the run and its step (`orch_run_id`, `orch_step`; null otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["insert_requests"]

_INSERT = text(
    """
    insert into requests (event_id, request_id, tenant_id, api_key_id, model_alias, provider, deployment,
        upstream_model, stream, status, http_status, error_code, tokens_in, tokens_out, cost_usd, latency_ms,
        ttft_ms, attempts, started_at, completed_at, cache_status, router_decision_id, router_tier, router_reason,
        requested_alias, orch_run_id, orch_step)
    values (:event_id, :request_id, :tenant_id, :api_key_id, :model_alias, :provider, :deployment,
        :upstream_model, :stream, :status, :http_status, :error_code, :tokens_in, :tokens_out, :cost_usd,
        :latency_ms, :ttft_ms, :attempts, :started_at, :completed_at, :cache_status, :router_decision_id,
        :router_tier, :router_reason, :requested_alias, :orch_run_id, :orch_step)
    on conflict (event_id) do nothing
    """
)


async def insert_requests(session: AsyncSession, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert `rows` in the session's (tenant) transaction; rows whose event id is stored already are skipped."""
    await session.execute(_INSERT, rows)
