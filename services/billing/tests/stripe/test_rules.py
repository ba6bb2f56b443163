"""The Stripe integration's pure rules: event shape, status mapping, invoice items, meter values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiaas.events.schemas import InvoiceFinalized, InvoiceLine, UsageMetered
from billing.stripe.rules import (
    HANDLED_EVENTS,
    InvoiceItem,
    invoice_items,
    invoice_payment_status,
    is_event,
    meter_value,
    subscription_status,
)

START = datetime(2026, 10, 1, tzinfo=UTC)


def _event(**overrides: Any) -> dict[str, Any]:
    return {"id": "evt_1", "type": "invoice.paid", "created": 1_790_000_000, "data": {"object": {}}, **overrides}


def _invoice(line_amounts: list[int], credits: int, tax: int) -> InvoiceFinalized:
    lines = [
        InvoiceLine(
            description=f"line {index}",
            tier="small" if index else None,
            quantity=index,
            unit_amount_minor=Decimal("0.05"),
            amount_minor=amount,
        )
        for index, amount in enumerate(line_amounts)
    ]
    subtotal = sum(line_amounts)
    return InvoiceFinalized(
        invoice_id=uuid.uuid4(),
        period_start=START,
        period_end=START + timedelta(days=31),
        currency="usd",
        subtotal_minor=subtotal,
        credits_applied_minor=credits,
        tax_minor=tax,
        total_minor=subtotal - credits + tax,
        lines=lines,
    )


# --- webhook events


def test_an_events_shape_is_accepted() -> None:
    assert is_event(_event())
    assert is_event(_event(data=None, created=None))


@pytest.mark.parametrize(
    "overrides",
    [
        {"id": 7},
        {"id": "ch_1"},
        {"id": "evt_" + "a" * 201},
        {"type": ""},
        {"type": None},
        {"type": "x" * 201},
        {"data": []},
        {"data": {"object": "cs_1"}},
        {"created": -1},
        {"created": 253_402_300_800},
        {"created": 1.5},
        {"created": True},
        {"type": "invoice.paid\x00"},
        {"data": {"object": {"amount": 2**64}}},
    ],
)
def test_signed_bodies_without_an_events_shape_are_refused(overrides: dict[str, Any]) -> None:
    assert not is_event(_event(**overrides))


def test_stripe_subscription_statuses_map_onto_ours() -> None:
    assert [subscription_status(s) for s in ("active", "trialing", "past_due", "unpaid", "paused")] == [
        "active",
        "active",
        "past_due",
        "past_due",
        "past_due",
    ]
    assert subscription_status("canceled") == subscription_status("incomplete_expired") == "canceled"
    assert subscription_status("something_new") is None


def test_invoice_events_set_the_payment_status() -> None:
    assert invoice_payment_status("invoice.paid") == "paid"
    assert invoice_payment_status("invoice.payment_failed") == "failed"
    assert invoice_payment_status("invoice.voided") == "void"
    assert invoice_payment_status("invoice.created") is None


@given(st.text(max_size=60))
def test_only_handled_event_types_change_anything(event_type: str) -> None:
    if invoice_payment_status(event_type) is not None:
        assert event_type in HANDLED_EVENTS


# --- the sync


def test_invoice_items_are_the_lines_then_credits_and_tax() -> None:
    items = invoice_items(_invoice([2000, 125], credits=300, tax=170))
    assert [(item.amount_minor, item.description) for item in items] == [
        (2000, "line 0"),
        (125, "line 1"),
        (-300, "Prepaid credits applied"),
        (170, "Tax"),
    ]
    assert items[1].metadata == {"tier": "small", "quantity": "1", "unit_amount_minor": "0.05"}
    assert items[0].metadata["tier"] == ""


def test_no_credits_or_tax_adds_no_item_for_them() -> None:
    assert invoice_items(_invoice([2000], credits=0, tax=0)) == [
        InvoiceItem(2000, "line 0", {"tier": "", "quantity": "0", "unit_amount_minor": "0.05"})
    ]


@given(
    st.lists(st.integers(min_value=0, max_value=10**9), max_size=20),
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=10**9),
)
def test_stripes_total_equals_ours(line_amounts: list[int], credits: int, tax: int) -> None:
    credits = min(credits, sum(line_amounts) + tax)  # credits pay at most the invoice
    invoice = _invoice(line_amounts, credits, tax)
    items = invoice_items(invoice)
    assert sum(item.amount_minor for item in items) == invoice.total_minor
    assert len(items) == len(line_amounts) + (credits > 0) + (tax > 0)


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10**12))
def test_the_meter_counts_tokens_in_and_out(tokens_in: int, tokens_out: int) -> None:
    usage = UsageMetered(
        source_event_id=uuid.uuid4(),
        period_start=START,
        model_alias="gpt-4o-mini",
        tier="small",
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        requests=1,
        charge_minor=Decimal("0"),
    )
    assert meter_value(usage) == tokens_in + tokens_out
