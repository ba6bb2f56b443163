"""Invoices: the preview equals a hand computation; closing is exactly-once and the result immutable."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from aiaas import clock
from aiaas.db import admin_session
from aiaas.events import EventEnvelope
from aiaas.events.schemas import InvoiceFinalized
from billing.subscriptions.rules import add_month

from ..factories import billing_admin_env, create_plan, day_start, grant_credit, subscribe, usage_event, wait_metered

# Plan: $10 base fee, 1,000 tokens included, 'bill' overage. Cents per 1k tokens (input / output):
# small 1.5 / 6, large 25 / 100, standard (required) 5 / 15.
PRICES = {
    "small": {"input_minor_per_1k": "1.5", "output_minor_per_1k": "6"},
    "large": {"input_minor_per_1k": "25", "output_minor_per_1k": "100"},
    "standard": {"input_minor_per_1k": "5", "output_minor_per_1k": "15"},
}


async def _setup(
    http, billing_url, billing_admin_url, admin_headers, publisher, tenant, admin_sessions, start, end
) -> None:
    plan = await create_plan(
        http,
        billing_admin_url,
        admin_headers,
        base_fee_minor=1000,
        included_tokens=1000,
        overage_policy="bill",
        prices=PRICES,
    )
    await subscribe(admin_sessions, tenant.id, plan, start, end)
    await grant_credit(http, billing_admin_url, admin_headers, tenant.id, 500)
    # In order: e1 small 600 in / 200 out -> all included (800 used, 200 left).
    # e2 large 300 in / 500 out -> 200 input included, 100 input + 500 output over:
    #    100 x 25/1000 + 500 x 100/1000 = 2.5 + 50 = 52.5 cents -> debit 52 (running 52.5).
    # e3 small 2000 in / 1000 out -> all over: 2000 x 1.5/1000 + 1000 x 6/1000 = 3 + 6 = 9 cents
    #    -> running 61.5, debit floor(61.5) - floor(52.5) = 9. Balance 500 - 61 = 439.
    for model, tin, tout in (("gpt-4o-mini", 600, 200), ("gpt-4o", 300, 500), ("gpt-4o-mini", 2000, 1000)):
        await publisher.publish(usage_event(tenant, model, tin, tout))
    await wait_metered(admin_sessions, tenant.id, 3)


EXPECTED_LINES = [
    # kind, tier, meter, quantity, included, overage, unit amount, amount
    ("base_fee", None, None, 1, 0, 0, "1000", 1000),  # 30 of 30 days
    ("usage", "large", "tokens_in", 300, 200, 100, "25", 3),  # 100 x 25/1000 = 2.5 -> 3 (half up)
    ("usage", "large", "tokens_out", 500, 0, 500, "100", 50),  # 500 x 100/1000 = 50
    ("usage", "small", "tokens_in", 2600, 600, 2000, "1.5", 3),  # 2000 x 1.5/1000 = 3
    ("usage", "small", "tokens_out", 1200, 200, 1000, "6", 6),  # 1000 x 6/1000 = 6
]
# subtotal 1000 + 3 + 50 + 3 + 6 = 1062; tax 10 % = 106.2 -> 106; gross 1168;
# credits applied = min(1168, 61 debited + 439 balance) = 500; total 1168 - 500 = 668.
EXPECTED_TOTALS = {"subtotal_minor": 1062, "tax_minor": 106, "credits_applied_minor": 500, "total_minor": 668}


def _lines(body: dict) -> list[tuple]:
    return [
        (
            line["kind"],
            line["tier"],
            line["meter"],
            line["quantity"],
            line["included_units"],
            line["overage_units"],
            line["unit_amount_minor"],
            line["amount_minor"],
        )
        for line in body["lines"]
    ]


async def test_preview_matches_hand_computation(
    meter, billing_url, billing_admin_url, http, admin_headers, publisher, tenant, admin_sessions
):
    # An open period around the clock's now: 15 days behind, 15 ahead, whatever the date.
    start = day_start(clock.now()) - timedelta(days=15)
    end = start + timedelta(days=30)
    await _setup(http, billing_url, billing_admin_url, admin_headers, publisher, tenant, admin_sessions, start, end)
    async with http.get(f"{billing_url}/v1/billing/invoice/preview", headers=tenant.auth) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert _lines(body) == EXPECTED_LINES
    assert {key: body[key] for key in EXPECTED_TOTALS} == EXPECTED_TOTALS
    assert body["tax_rate"] == "0.1"
    assert body["period_start"] == start.isoformat()
    async with http.get(f"{billing_url}/v1/billing/balance", headers=tenant.auth) as resp:
        assert (await resp.json())["balance_minor"] == 439  # the preview persisted nothing
    async with http.get(f"{billing_url}/v1/billing/usage?period=current", headers=tenant.auth) as resp:
        usage = await resp.json()
    assert usage["totals"] == {"tokens_in": 2900, "tokens_out": 1700, "tokens": 4600, "requests": 3}
    assert usage["overage_charge_minor"] == "61.5" and usage["currency"] == "usd"
    assert [(m["model_alias"], m["tier"], m["requests"]) for m in usage["models"]] == [
        ("gpt-4o", "large", 1),
        ("gpt-4o-mini", "small", 2),
    ]


async def test_close_twice_makes_one_immutable_invoice(
    meter, billing_url, billing_admin_url, http, admin_headers, publisher, tenant, admin_sessions, infra_urls
):
    # A 31-day period that ended yesterday (by the clock), closed at the instant it ended: the next
    # period [end, end + 1 month) is then open whatever the date, so exactly one period is due.
    end = day_start(clock.now()) - timedelta(days=1)
    start = end - timedelta(days=31)
    await _setup(http, billing_url, billing_admin_url, admin_headers, publisher, tenant, admin_sessions, start, end)
    async with http.get(f"{billing_url}/v1/billing/invoice/preview", headers=tenant.auth) as resp:
        preview = await resp.json()
    assert preview["lines"][0]["description"].endswith("(31/31 days)")

    body = {"now": end.isoformat()}
    async with http.post(f"{billing_admin_url}/admin/billing/close-periods", json=body, headers=admin_headers) as resp:
        assert resp.status == 200
        closed = await resp.json()
    mine = [item["invoice_id"] for item in closed["invoices"] if item["tenant_id"] == str(tenant.id)]
    assert len(mine) == 1
    # The CLI, run again at the clock's now: nothing left to close for this tenant.
    out = subprocess.run(
        [sys.executable, "-m", "billing", "close-periods"],
        env={**billing_admin_env(infra_urls), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert str(tenant.id) not in out.stdout

    async with http.get(f"{billing_url}/v1/billing/invoices", headers=tenant.auth) as resp:
        invoices = (await resp.json())["data"]
    assert [invoice["id"] for invoice in invoices] == mine
    invoice = invoices[0]
    assert _lines(invoice) == [EXPECTED_LINES[0][:6] + ("1000", 1000), *EXPECTED_LINES[1:]]
    assert {key: invoice[key] for key in EXPECTED_TOTALS} == EXPECTED_TOTALS
    assert (invoice["status"], invoice["payment_status"]) == ("finalized", "open")
    async with http.get(f"{billing_url}/v1/billing/invoices/{mine[0]}", headers=tenant.auth) as resp:
        assert await resp.json() == invoice

    # Credits: 61 debited by usage + 439 at close = 500 applied; the balance is now 0.
    async with http.get(f"{billing_url}/v1/billing/balance", headers=tenant.auth) as resp:
        assert (await resp.json())["balance_minor"] == 0
    # The subscription moved on to the next month.
    async with http.get(f"{billing_url}/v1/billing/subscription", headers=tenant.auth) as resp:
        sub = await resp.json()
    assert (sub["current_period_start"], sub["current_period_end"]) == (end.isoformat(), add_month(end).isoformat())

    async with admin_session(admin_sessions) as session:
        payload = (
            await session.execute(
                text("select payload::text from event_outbox where subject = :s"),
                {"s": f"billing.invoice.finalized.{tenant.id}"},
            )
        ).scalar_one()
    event = InvoiceFinalized.model_validate(EventEnvelope.from_json(payload).data)
    assert (str(event.invoice_id), event.total_minor, event.tax_minor, len(event.lines)) == (mine[0], 668, 106, 5)

    # Amounts are immutable; the payment status is not.
    with pytest.raises(DBAPIError, match="immutable"):
        async with admin_session(admin_sessions) as session:
            await session.execute(text("update invoices set total_minor = 0 where id = :i"), {"i": mine[0]})
    with pytest.raises(DBAPIError, match="immutable"):
        async with admin_session(admin_sessions) as session:
            await session.execute(
                text("update invoice_lines set amount_minor = 0 where invoice_id = :i"), {"i": mine[0]}
            )
    async with admin_session(admin_sessions) as session:
        await session.execute(text("update invoices set payment_status = 'paid' where id = :i"), {"i": mine[0]})
    async with http.get(f"{billing_url}/v1/billing/invoices/{mine[0]}", headers=tenant.auth) as resp:
        after = await resp.json()
    assert (after["payment_status"], after["total_minor"]) == ("paid", 668)
