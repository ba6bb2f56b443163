"""Invoices: the period's charges computed from the ledger; closing a period makes them immutable.

Lines: the base fee (prorated by days per plan, see subscriptions.py), then per tier and direction
(input/output) and price: tokens, included tokens applied, overage tokens, price per 1k, amount =
overage x price / 1000 rounded half-up at line level. subtotal = sum of lines; tax = subtotal x
BILLING_TAX_RATE rounded half-up; the prepaid balance pays first: credits applied = what usage
already debited this period, topped up (or refunded) at close to min(subtotal + tax, debits + balance);
total = subtotal + tax - credits applied. The preview is the same computation on the open period.

Closing is exactly-once: the subscription row lock serialises closers, the invoice is unique per
(tenant, period_start), and the subscription advances to the next period in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import admin_session, tenant_session
from aiaas.errors import BadRequest
from aiaas.events import EventEnvelope, event_id, write_outbox
from aiaas.events.schemas import INVOICE_FINALIZED, InvoiceFinalized, InvoiceLine
from billing.catalogue import Catalogue
from billing.credits import add_entry, balance
from billing.money import round_minor, token_charge
from billing.subscriptions import Subscription, add_month, base_fee_parts, lock_subscription, period_days

__all__ = [
    "DraftLine",
    "InvoiceDraft",
    "compute_invoice",
    "close_tenant_periods",
    "close_due_periods",
    "check_close_instant",
]

# How far `now` may be ahead of this clock when closing (clock skew between hosts).
_MAX_SKEW = timedelta(minutes=1)


def check_close_instant(now: datetime) -> datetime:
    """Periods are closed as of now or a past instant only: closing "in the future" would finalize open periods."""
    if now.tzinfo is None:
        raise BadRequest("now must carry a UTC offset.", code="invalid_now", param="now")
    if now > clock.now() + _MAX_SKEW:
        raise BadRequest("now must not be in the future.", code="invalid_now", param="now")
    return now.astimezone(UTC)


@dataclass(frozen=True)
class DraftLine:
    kind: str
    description: str
    tier: str | None
    meter: str | None
    quantity: int
    included_units: int
    overage_units: int
    # Minor units of the invoice currency: per 1,000 tokens on usage lines, the fee on the base fee line.
    unit_amount_minor: Decimal
    amount_minor: int


@dataclass(frozen=True)
class InvoiceDraft:
    tenant_id: uuid.UUID
    plan_code: str
    period_start: datetime
    period_end: datetime
    currency: str
    lines: list[DraftLine]
    subtotal_minor: int
    tax_rate: Decimal
    tax_minor: int
    credits_applied_minor: int
    total_minor: int
    # Credits already debited by usage this period, and the balance change closing would make.
    usage_debits_minor: int
    credit_adjustment_minor: int


_USAGE = text(
    """
    select tier, input_minor_per_1k, output_minor_per_1k, sum(tokens_in) as tokens_in,
        sum(included_in) as included_in,
        sum(tokens_out) as tokens_out, sum(included_out) as included_out
    from usage_ledger where tenant_id = :tid and period_start = :period_start
    group by tier, input_minor_per_1k, output_minor_per_1k
    """
)
_USAGE_DEBITS = text(
    "select coalesce(-sum(amount_minor), 0) from credit_ledger"
    " where tenant_id = :tid and reason = 'usage' and period_start = :period_start"
)


async def _usage_lines(session: AsyncSession, sub: Subscription) -> list[DraftLine]:
    rows = (await session.execute(_USAGE, {"tid": sub.tenant_id, "period_start": sub.current_period_start})).all()
    # (tier, meter, price) -> [tokens, included]
    groups: dict[tuple[str, str, Decimal], list[int]] = {}
    for row in rows:
        for meter, price, tokens, included in (
            ("tokens_in", row.input_minor_per_1k, row.tokens_in, row.included_in),
            ("tokens_out", row.output_minor_per_1k, row.tokens_out, row.included_out),
        ):
            if tokens:
                acc = groups.setdefault((row.tier, meter, price.normalize()), [0, 0])
                acc[0] += int(tokens)
                acc[1] += int(included)
    lines = []
    for (tier, meter, price), (tokens, included) in sorted(groups.items()):
        overage = tokens - included
        direction = "input" if meter == "tokens_in" else "output"
        lines.append(
            DraftLine(
                kind="usage",
                description=f"{tier} tier {direction} tokens: {overage} beyond the included allowance, per 1k",
                tier=tier,
                meter=meter,
                quantity=tokens,
                included_units=included,
                overage_units=overage,
                unit_amount_minor=price,
                amount_minor=round_minor(token_charge(overage, price)),
            )
        )
    return lines


async def compute_invoice(
    session: AsyncSession, catalogue: Catalogue, sub: Subscription, tax_rate: Decimal
) -> InvoiceDraft:
    """The invoice of `sub`'s open period as it stands (read-only)."""
    plan = catalogue.plan(sub.plan_code)
    prior, current, days = base_fee_parts(sub, plan)
    total_days = period_days(sub.current_period_start, sub.current_period_end)
    lines: list[DraftLine] = []
    if prior:
        lines.append(
            DraftLine("base_fee", "Base fee of earlier plans this period", None, None, 1, 0, 0, Decimal(prior), prior)
        )
    lines.append(
        DraftLine(
            "base_fee",
            f"Plan '{plan.name}' base fee ({days}/{total_days} days)",
            None,
            None,
            1,
            0,
            0,
            Decimal(current),
            current,
        )
    )
    lines.extend(await _usage_lines(session, sub))
    subtotal = sum(line.amount_minor for line in lines)
    tax = round_minor(Decimal(subtotal) * tax_rate)
    params = {"tid": sub.tenant_id, "period_start": sub.current_period_start}
    debited = int((await session.execute(_USAGE_DEBITS, params)).scalar_one())
    applied = min(subtotal + tax, debited + await balance(session, sub.tenant_id))
    return InvoiceDraft(
        tenant_id=sub.tenant_id,
        plan_code=plan.code,
        period_start=sub.current_period_start,
        period_end=sub.current_period_end,
        currency=plan.currency,
        lines=lines,
        subtotal_minor=subtotal,
        tax_rate=tax_rate,
        tax_minor=tax,
        credits_applied_minor=applied,
        total_minor=subtotal + tax - applied,
        usage_debits_minor=debited,
        credit_adjustment_minor=debited - applied,
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
_ADVANCE = text(
    "update subscriptions set current_period_start = :start, current_period_end = :end, plan_since = :start,"
    " prior_base_fee_minor = 0, period_charge_minor = 0, updated_at = now() where tenant_id = :tid"
)
_DUE = text("select tenant_id from subscriptions where current_period_end <= :now order by tenant_id")


async def _finalize(session: AsyncSession, draft: InvoiceDraft, now: datetime) -> uuid.UUID | None:
    invoice_id = (
        await session.execute(
            _INSERT_INVOICE,
            {
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
            },
        )
    ).scalar()
    if invoice_id is None:
        return None  # already closed (only reachable if a period was rewound by hand)
    await session.execute(
        _INSERT_LINES,
        [
            {"invoice_id": invoice_id, "position": n, "tid": draft.tenant_id, **line.__dict__}
            for n, line in enumerate(draft.lines, start=1)
        ],
    )
    if draft.credit_adjustment_minor:
        await add_entry(
            session,
            draft.tenant_id,
            amount_minor=draft.credit_adjustment_minor,
            current_balance=await balance(session, draft.tenant_id),
            reason="invoice",
            key=f"invoice:{draft.period_start.isoformat()}",
            period_start=draft.period_start,
        )
    data = InvoiceFinalized(
        invoice_id=invoice_id,
        period_start=draft.period_start,
        period_end=draft.period_end,
        currency=draft.currency,
        subtotal_minor=draft.subtotal_minor,
        credits_applied_minor=draft.credits_applied_minor,
        tax_minor=draft.tax_minor,
        total_minor=draft.total_minor,
        lines=[
            InvoiceLine(
                description=line.description,
                tier=line.tier,
                quantity=line.quantity,
                unit_amount_minor=line.unit_amount_minor,
                amount_minor=line.amount_minor,
            )
            for line in draft.lines
        ],
    )
    await write_outbox(
        session,
        EventEnvelope(
            id=event_id(INVOICE_FINALIZED, str(invoice_id)),
            type=INVOICE_FINALIZED,
            tenant_id=draft.tenant_id,
            occurred_at=now,
            data=data.model_dump(mode="json"),
        ),
    )
    return uuid.UUID(str(invoice_id))


async def close_tenant_periods(
    session: AsyncSession, catalogue: Catalogue, tenant_id: uuid.UUID, now: datetime, tax_rate: Decimal
) -> list[uuid.UUID]:
    """Close every ended period of one tenant (oldest first); returns the invoices created."""
    created: list[uuid.UUID] = []
    sub = await lock_subscription(session, tenant_id, now)
    while sub.current_period_end <= now:
        draft = await compute_invoice(session, catalogue, sub, tax_rate)
        invoice_id = await _finalize(session, draft, now)
        if invoice_id is not None:
            created.append(invoice_id)
        start = sub.current_period_end
        await session.execute(_ADVANCE, {"tid": tenant_id, "start": start, "end": add_month(start)})
        sub = await lock_subscription(session, tenant_id, now)
    return created


async def close_due_periods(
    admin_sessions: async_sessionmaker[AsyncSession],
    sessions: async_sessionmaker[AsyncSession],
    catalogue: Catalogue,
    now: datetime,
    tax_rate: Decimal,
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Find due subscriptions across tenants (platform_admin), close each in its own tenant transaction."""
    now = check_close_instant(now)
    async with admin_session(admin_sessions) as session:
        due = [row.tenant_id for row in (await session.execute(_DUE, {"now": now})).all()]
    closed: dict[uuid.UUID, list[uuid.UUID]] = {}
    for tenant_id in due:
        async with tenant_session(sessions, tenant_id) as session:
            invoices = await close_tenant_periods(session, catalogue, tenant_id, now, tax_rate)
        if invoices:
            closed[tenant_id] = invoices
    return closed
