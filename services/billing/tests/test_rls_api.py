"""Tenant isolation through the API: tenant A's key sees nothing of tenant B from any GET endpoint."""

from __future__ import annotations

from datetime import timedelta

from aiaas import clock

from .factories import create_plan, day_start, grant_credit, subscribe, usage_event, wait_metered

PRICES = {"standard": {"input_minor_per_1k": "10", "output_minor_per_1k": "10"}}


async def test_tenant_a_sees_nothing_of_tenant_b(
    meter, billing_url, billing_admin_url, http, admin_headers, publisher, make_tenant, admin_sessions
):
    a, b = await make_tenant(), await make_tenant()
    plan = await create_plan(
        http,
        billing_admin_url,
        admin_headers,
        base_fee_minor=777,
        included_tokens=10,
        overage_policy="bill",
        prices=PRICES,
    )
    # B's period ended yesterday and is closed at the instant it ended: exactly one invoice, on any date.
    end = day_start(clock.now()) - timedelta(days=1)
    start = end - timedelta(days=30)
    period = f"?period={start.date().isoformat()}"
    await subscribe(admin_sessions, b.id, plan, start, end)
    await grant_credit(http, billing_admin_url, admin_headers, b.id, 4242)
    async with http.post(
        f"{billing_url}/v1/billing/balance/top-ups", json={"amount_minor": 4343}, headers=b.auth
    ) as resp:
        b_top_up = (await resp.json())["top_up_id"]  # pending: a Checkout Session, no credit
    await publisher.publish(usage_event(b, "secret-model-b", 12345, 678))
    await wait_metered(admin_sessions, b.id, 1)
    body = {"now": end.isoformat()}
    async with http.post(f"{billing_admin_url}/admin/billing/close-periods", json=body, headers=admin_headers) as resp:
        closed = await resp.json()
    b_invoice = next(item["invoice_id"] for item in closed["invoices"] if item["tenant_id"] == str(b.id))
    await publisher.publish(usage_event(b, "secret-model-b", 1111, 2222))  # usage in B's open period too
    await wait_metered(admin_sessions, b.id, 2)

    async with http.get(f"{billing_url}/openapi.json") as resp:
        paths = (await resp.json())["paths"]
    gets = [path for path, ops in paths.items() if "get" in ops and path.startswith("/v1/")]
    assert len(gets) >= 6
    b_markers = [str(b.id), b_invoice, b_top_up, "secret-model-b", "12345", "4242", "4343", plan]
    for path in gets:
        url = billing_url + path.replace("{invoice_id}", b_invoice).replace("{top_up_id}", b_top_up)
        for query in ("", period):
            async with http.get(url + query, headers=a.auth) as resp:
                body = await resp.text()
                status = resp.status
            assert status in (200, 404), (path, status, body)
            for marker in b_markers:
                assert marker not in body, (path, query, marker)
            if "{invoice_id}" in path or "{top_up_id}" in path:
                assert status == 404
    # B sees its own data through the same endpoints.
    async with http.get(f"{billing_url}/v1/billing/invoices/{b_invoice}", headers=b.auth) as resp:
        assert resp.status == 200
    async with http.get(f"{billing_url}/v1/billing/usage{period}", headers=b.auth) as resp:
        assert (await resp.json())["totals"]["tokens_in"] == 12345
    async with http.get(f"{billing_url}/v1/billing/balance", headers=a.auth) as resp:
        assert (await resp.json())["balance_minor"] == 0
    async with http.get(f"{billing_url}/v1/billing/usage", headers=a.auth) as resp:
        assert (await resp.json())["totals"] == {"tokens_in": 0, "tokens_out": 0, "tokens": 0, "requests": 0}


BILLING_TENANT_TABLES = (
    "subscriptions",
    "usage_ledger",
    "usage_counters",
    "credit_ledger",
    "invoices",
    "invoice_lines",
    "alert_endpoints",
    "alert_deliveries",
)


async def test_billing_tables_force_rls_and_scope_to_the_tenant(make_tenant, runtime_sessions, admin_sessions):
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from aiaas.db import admin_session, tenant_session

    async with admin_session(admin_sessions) as session:
        flags = (
            await session.execute(
                text(
                    "select relname, relrowsecurity, relforcerowsecurity from pg_class"
                    " where relname = any(:names) and relkind = 'r'"
                ),
                {"names": list(BILLING_TENANT_TABLES)},
            )
        ).all()
    assert {row.relname: (row.relrowsecurity, row.relforcerowsecurity) for row in flags} == {
        name: (True, True) for name in BILLING_TENANT_TABLES
    }

    a, b = await make_tenant(), await make_tenant()
    async with tenant_session(runtime_sessions, b.id) as session:
        await session.execute(
            text(
                "insert into credit_ledger (tenant_id, amount_minor, balance_after_minor, reason, idempotency_key)"
                " values (:t, 5, 5, 'top_up', 'top_up:rls')"
            ),
            {"t": b.id},
        )
    async with tenant_session(runtime_sessions, a.id) as session:
        for table in BILLING_TENANT_TABLES:
            seen = await session.execute(text(f"select count(*) from {table} where tenant_id = :t"), {"t": b.id})
            assert seen.scalar_one() == 0, table
    # Writing another tenant's row is refused by the policy's WITH CHECK.
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_session(runtime_sessions, a.id) as session:
            await session.execute(
                text(
                    "insert into credit_ledger (tenant_id, amount_minor, balance_after_minor, reason,"
                    " idempotency_key) values (:t, 1000000, 1000000, 'top_up', 'top_up:steal')"
                ),
                {"t": b.id},
            )
    # app_runtime may read the plan catalogue but not change it.
    with pytest.raises(DBAPIError, match="permission denied"):
        async with tenant_session(runtime_sessions, a.id) as session:
            await session.execute(text("update plans set base_fee_minor = 0 where code = 'pro'"))
