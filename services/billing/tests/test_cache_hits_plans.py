"""Plans carry a fee per cache hit (`cache_hit_fee_minor`, cents per hit): seeded, set, changed, bad input refused."""

from __future__ import annotations

import pytest

from .factories import create_plan

PRICES = {"standard": {"input_minor_per_1k": "5", "output_minor_per_1k": "15"}}


async def _plans(http, url: str, headers: dict[str, str]) -> dict[str, dict]:
    async with http.get(f"{url}/admin/billing/plans", headers=headers) as resp:
        assert resp.status == 200
        return {plan["code"]: plan for plan in (await resp.json())["data"]}


async def test_seeded_plans_price_hits_and_a_new_plan_defaults_to_free_hits(billing_admin_url, http, admin_headers):
    plans = await _plans(http, billing_admin_url, admin_headers)
    assert {code: plans[code]["cache_hit_fee_minor"] for code in ("free", "pro", "enterprise")} == {
        "free": "0",
        "pro": "0.02",
        "enterprise": "0.01",
    }
    code = await create_plan(
        http, billing_admin_url, admin_headers, included_tokens=10, overage_policy="bill", prices=PRICES
    )
    assert (await _plans(http, billing_admin_url, admin_headers))[code]["cache_hit_fee_minor"] == "0"


async def test_the_fee_round_trips_and_changes(billing_admin_url, http, admin_headers):
    code = await create_plan(
        http,
        billing_admin_url,
        admin_headers,
        included_tokens=10,
        overage_policy="bill",
        prices=PRICES,
        cache_hit_fee_minor="0.0250",
    )
    assert (await _plans(http, billing_admin_url, admin_headers))[code]["cache_hit_fee_minor"] == "0.025"
    url = f"{billing_admin_url}/admin/billing/plans/{code}"
    async with http.patch(url, json={"cache_hit_fee_minor": "1.5"}, headers=admin_headers) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["cache_hit_fee_minor"] == "1.5"
    async with http.patch(url, json={"name": "Renamed"}, headers=admin_headers) as resp:
        assert (await resp.json())["cache_hit_fee_minor"] == "1.5"  # left out = unchanged


@pytest.mark.parametrize("fee", ["-1", "1e-3", "0.5.1", " 1", "12345678901", "0.12345678901", 0.5, 1, None, ""])
async def test_a_bad_fee_is_a_422_and_changes_nothing(billing_admin_url, http, admin_headers, fee):
    code = await create_plan(
        http,
        billing_admin_url,
        admin_headers,
        included_tokens=10,
        overage_policy="bill",
        prices=PRICES,
        cache_hit_fee_minor="0.3",
    )
    url = f"{billing_admin_url}/admin/billing/plans/{code}"
    async with http.patch(url, json={"cache_hit_fee_minor": fee}, headers=admin_headers) as resp:
        assert resp.status == 422, await resp.text()
        error = (await resp.json())["error"]
    assert set(error) >= {"type", "code", "message"}
    body = {"code": f"{code}x", "name": "x", "included_tokens": 1, "overage_policy": "bill", "prices": PRICES}
    async with http.post(
        f"{billing_admin_url}/admin/billing/plans", json={**body, "cache_hit_fee_minor": fee}, headers=admin_headers
    ) as resp:
        assert resp.status == 422, await resp.text()
    plans = await _plans(http, billing_admin_url, admin_headers)
    assert plans[code]["cache_hit_fee_minor"] == "0.3" and f"{code}x" not in plans
