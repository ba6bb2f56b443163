"""SQL of invoices: the period's ledger sums, finalizing (invoice + lines), reading finalized invoices.

Reads see a tenant's own invoices under RLS, or any on a platform_admin session.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from billing.invoices.rules import CacheHitGroup, UsageGroup
from billing.invoices.schemas import DraftLine, Invoice, InvoiceDraft

__all__ = ["usage_groups", "cache_hit_groups", "usage_debits", "insert_invoice", "list_invoices", "get_invoice"]

_USAGE = text(
    """
    select tier, input_minor_per_1k, output_minor_per_1k, sum(tokens_in) as tokens_in,
        sum(included_in) as included_in,
        sum(tokens_out) as tokens_out, sum(included_out) as included_out
    from usage_ledger where tenant_id = :tid and period_start = :period_start
    group by tier, input_minor_per_1k, output_minor_per_1k
    """
)
_CACHE_HITS = text(
    """
    select cache_status, cache_hit_fee_minor, count(*) as hits
    from usage_ledger where tenant_id = :tid and period_start = :period_start
        and cache_status in ('exact', 'semantic')
    group by cache_status, cache_hit_fee_minor
    """
)
_USAGE_DEBITS = text(
    "select coalesce(-sum(amount_minor), 0) from credit_ledger"
    " where tenant_id = :tid and reason = 'usage' and period_start = :period_start"
)
_INSERT_INVOICE = text(
    """
    insert into invoices (tenant_id, plan_code, period_start, period_end, currency, subtotal_minor,
        credits_applied_minor, tax_rate, tax_minor, total_minor, finalized_at)
    values (:tid, :plan, :period_start, :period_end, :currency, :subtotal, :credits, :tax_rate, :tax, :total, :now)
    on conflict (tenant_id, period_start) do nothing
    returning id
    """
)
_INSERT_LINES = text(
    """
    insert into invoice_lines (invoice_id, position, tenant_id, kind, description, tier, meter, quantity,
        included_units, overage_units, unit_amount_minor, amount_minor)
    values (:invoice_id, :position, :tid, :kind, :description, :tier, :meter, :quantity, :included_units,
        :overage_units, :unit_amount_minor, :amount_minor)
    """
)
_COLS = (
    "id, plan_code, period_start, period_end, currency, subtotal_minor, credits_applied_minor, tax_rate, tax_minor,"
    " total_minor, status, payment_status, finalized_at"
)
_LIST = text(
    f"select {_COLS} from invoices where tenant_id = :tid order by period_start desc limit :limit"  # noqa: S608  # nosec B608
)
_GET = text(f"select {_COLS} from invoices where tenant_id = :tid and id = :id")  # noqa: S608  # nosec B608
_LINES = text(
    "select invoice_id, kind, description, tier, meter, quantity, included_units, overage_units, unit_amount_minor,"
    " amount_minor from invoice_lines where tenant_id = :tid and invoice_id = any(cast(:ids as uuid[]))"
    " order by invoice_id, position"
)


async def usage_groups(session: AsyncSession, tenant_id: uuid.UUID, period_start: datetime) -> list[UsageGroup]:
    """The period's ledger summed per tier and price pair."""
    rows = (await session.execute(_USAGE, {"tid": tenant_id, "period_start": period_start})).all()
    return [
        UsageGroup(
            tier=row.tier,
            input_minor_per_1k=row.input_minor_per_1k,
            output_minor_per_1k=row.output_minor_per_1k,
            tokens_in=int(row.tokens_in),
            included_in=int(row.included_in),
            tokens_out=int(row.tokens_out),
            included_out=int(row.included_out),
        )
        for row in rows
    ]


async def cache_hit_groups(session: AsyncSession, tenant_id: uuid.UUID, period_start: datetime) -> list[CacheHitGroup]:
    """The period's cache hits counted per kind (exact, semantic) and the fee they were metered at."""
    rows = (await session.execute(_CACHE_HITS, {"tid": tenant_id, "period_start": period_start})).all()
    return [CacheHitGroup(row.cache_status, row.cache_hit_fee_minor, int(row.hits)) for row in rows]


async def usage_debits(session: AsyncSession, tenant_id: uuid.UUID, period_start: datetime) -> int:
    """Credit usage debited in the period (a positive amount)."""
    params = {"tid": tenant_id, "period_start": period_start}
    return int((await session.execute(_USAGE_DEBITS, params)).scalar_one())


async def insert_invoice(session: AsyncSession, draft: InvoiceDraft, now: datetime) -> uuid.UUID | None:
    """Finalize `draft` with its lines; None when the period has an invoice already."""
    params = {
        "tid": draft.tenant_id,
        "plan": draft.plan_code,
        "period_start": draft.period_start,
        "period_end": draft.period_end,
        "currency": draft.currency,
        "subtotal": draft.subtotal_minor,
        "credits": draft.credits_applied_minor,
        "tax_rate": draft.tax_rate,
        "tax": draft.tax_minor,
        "total": draft.total_minor,
        "now": now,
    }
    invoice_id = (await session.execute(_INSERT_INVOICE, params)).scalar()
    if invoice_id is None:
        return None
    await session.execute(
        _INSERT_LINES,
        [
            {"invoice_id": invoice_id, "position": n, "tid": draft.tenant_id, **line.__dict__}
            for n, line in enumerate(draft.lines, start=1)
        ],
    )
    return uuid.UUID(str(invoice_id))


async def _with_lines(
    session: AsyncSession, tenant_id: uuid.UUID, rows: Sequence[Row[tuple[object, ...]]]
) -> list[Invoice]:
    if not rows:
        return []
    lines: dict[uuid.UUID, list[DraftLine]] = {}
    ids = [row.id for row in rows]
    for line in (await session.execute(_LINES, {"tid": tenant_id, "ids": ids})).all():
        values = dict(line._mapping)
        lines.setdefault(values.pop("invoice_id"), []).append(DraftLine(**values))
    return [Invoice(**row._mapping, lines=lines.get(row.id, [])) for row in rows]


async def list_invoices(session: AsyncSession, tenant_id: uuid.UUID, limit: int = 100) -> list[Invoice]:
    rows = (await session.execute(_LIST, {"tid": tenant_id, "limit": limit})).all()
    return await _with_lines(session, tenant_id, rows)


async def get_invoice(session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice | None:
    rows = (await session.execute(_GET, {"tid": tenant_id, "id": invoice_id})).all()
    invoices = await _with_lines(session, tenant_id, rows)
    return invoices[0] if invoices else None
