"""Invoices as values (a draft, a finalized invoice and their lines) and as response bodies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pydantic import Field, field_validator

from billing.plans.schemas import CURRENCY_DOC, DECIMAL_DOC, RequestBody, ResponseBody, decimal_text

__all__ = [
    "DraftLine",
    "InvoiceDraft",
    "Invoice",
    "CloseRequest",
    "InvoiceDraftOut",
    "InvoiceOut",
    "InvoiceList",
    "draft_json",
    "invoice_json",
]


@dataclass(frozen=True)
class DraftLine:
    kind: str
    description: str
    tier: str | None
    meter: str | None
    quantity: int
    included_units: int
    overage_units: int
    # Minor units of the invoice currency: per 1,000 tokens on usage lines, per hit on cache hit lines, the fee
    # on the base fee line.
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


class CloseRequest(RequestBody):
    now: datetime | None = Field(None, description="close periods ended at this instant (default: now)")

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a UTC offset")
        return value


class InvoiceLineOut(ResponseBody):
    kind: str
    description: str
    tier: str | None
    meter: str | None
    quantity: int
    included_units: int
    overage_units: int
    unit_amount_minor: str = Field(
        description=f"Minor units (cents), {DECIMAL_DOC}: per 1,000 overage tokens on usage lines,"
        " per hit on cache_hits lines, the fee on base fee lines"
    )
    amount_minor: int = Field(description="Line amount in integer minor units (cents), rounded half-up")


class InvoiceDraftOut(ResponseBody):
    plan: str
    period_start: str
    period_end: str
    currency: str = Field(description=CURRENCY_DOC)
    lines: list[InvoiceLineOut]
    subtotal_minor: int = Field(description="Sum of the lines, integer minor units (cents)")
    tax_rate: str = Field(description=f"Fraction of the subtotal, {DECIMAL_DOC} (0.2 = 20 %)")
    tax_minor: int = Field(description="Tax in integer minor units (cents)")
    credits_applied_minor: int = Field(description="Prepaid credit applied, integer minor units (cents)")
    total_minor: int = Field(description="Amount due = subtotal + tax - credits applied, integer minor units (cents)")


class InvoiceOut(InvoiceDraftOut):
    id: str
    status: str
    payment_status: str
    finalized_at: str


class InvoiceList(ResponseBody):
    data: list[InvoiceOut]


def _line_json(line: DraftLine) -> dict[str, object]:
    return {
        "kind": line.kind,
        "description": line.description,
        "tier": line.tier,
        "meter": line.meter,
        "quantity": line.quantity,
        "included_units": line.included_units,
        "overage_units": line.overage_units,
        "unit_amount_minor": decimal_text(line.unit_amount_minor),
        "amount_minor": line.amount_minor,
    }


def draft_json(draft: InvoiceDraft) -> dict[str, object]:
    return {
        "plan": draft.plan_code,
        "period_start": draft.period_start.isoformat(),
        "period_end": draft.period_end.isoformat(),
        "currency": draft.currency,
        "lines": [_line_json(line) for line in draft.lines],
        "subtotal_minor": draft.subtotal_minor,
        "tax_rate": decimal_text(draft.tax_rate),
        "tax_minor": draft.tax_minor,
        "credits_applied_minor": draft.credits_applied_minor,
        "total_minor": draft.total_minor,
    }


def invoice_json(invoice: Invoice) -> dict[str, object]:
    return {
        "id": str(invoice.id),
        "plan": invoice.plan_code,
        "period_start": invoice.period_start.isoformat(),
        "period_end": invoice.period_end.isoformat(),
        "currency": invoice.currency,
        "lines": [_line_json(line) for line in invoice.lines],
        "subtotal_minor": invoice.subtotal_minor,
        "tax_rate": decimal_text(invoice.tax_rate),
        "tax_minor": invoice.tax_minor,
        "credits_applied_minor": invoice.credits_applied_minor,
        "total_minor": invoice.total_minor,
        "status": invoice.status,
        "payment_status": invoice.payment_status,
        "finalized_at": invoice.finalized_at.isoformat(),
    }
