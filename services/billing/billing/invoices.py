"""Reading finalized invoices (a tenant's own under RLS, or any on a platform_admin session)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.errors import NotFound
from billing.invoicing import DraftLine

__all__ = ["Invoice", "list_invoices", "get_invoice"]


@dataclass(frozen=True)
class Invoice:
    id: uuid.UUID
    plan_code: str
    period_start: datetime
    period_end: datetime
    currency: str
    subtotal_minor: int
    credits_applied_minor: int
    tax_rate: Decimal
    tax_minor: int
    total_minor: int
    status: str
    payment_status: str
    finalized_at: datetime
    lines: list[DraftLine]


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


async def _with_lines(session: AsyncSession, tenant_id: uuid.UUID, rows: list) -> list[Invoice]:  # type: ignore[type-arg]
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
    return await _with_lines(session, tenant_id, list(rows))


async def get_invoice(session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice:
    rows = (await session.execute(_GET, {"tid": tenant_id, "id": invoice_id})).all()
    if not rows:
        raise NotFound("No such invoice.", code="invoice_not_found")
    return (await _with_lines(session, tenant_id, list(rows)))[0]
