"""Plan prices say their unit: cents per 1,000 tokens under `*_minor_per_1k`; the old names are refused, not guessed."""

from __future__ import annotations

import uuid

from .factories import create_plan


async def test_plan_prices_round_trip_as_minor_units_per_1k(billing_admin_url, http, admin_headers):
    prices = {"standard": {"input_minor_per_1k": "0.015", "output_minor_per_1k": "0.06"}}
    code = await create_plan(
        http, billing_admin_url, admin_headers, included_tokens=10, overage_policy="bill", prices=prices
    )
    async with http.get(f"{billing_admin_url}/admin/billing/plans", headers=admin_headers) as resp:
        plans = {plan["code"]: plan for plan in (await resp.json())["data"]}
    assert plans[code]["prices"] == prices
    assert plans[code]["currency"] == "usd" and plans[code]["base_fee_minor"] == 0


async def test_a_price_without_its_unit_in_the_name_is_refused(billing_admin_url, http, admin_headers):
    # "0.15" meant as dollars would have been read as 0.15 cents: 100x too little. Refused, with the way out.
    body = {
        "code": f"t{uuid.uuid4().hex[:12]}",
        "name": "Old names",
        "included_tokens": 10,
        "overage_policy": "bill",
        "prices": {"standard": {"input_per_1k": "0.15", "output_per_1k": "0.6"}},
    }
    async with http.post(f"{billing_admin_url}/admin/billing/plans", json=body, headers=admin_headers) as resp:
        assert resp.status == 422
        error = (await resp.json())["error"]
    assert "input_minor_per_1k" in error["message"] and "minor units (cents)" in error["message"]
    async with http.get(f"{billing_admin_url}/admin/billing/plans", headers=admin_headers) as resp:
        assert body["code"] not in {plan["code"] for plan in (await resp.json())["data"]}
