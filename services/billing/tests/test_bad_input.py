"""Bad input gets a 4xx in the one error shape; a fuzz over every endpoint never produces a 5xx."""

from __future__ import annotations

import json
import uuid

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _assert_error(status: int, body: dict) -> None:
    assert 400 <= status < 500, (status, body)
    assert set(body) == {"error"}, body
    assert all(isinstance(body["error"][key], str) for key in ("type", "code", "message"))


async def _call(http, method, url, **kwargs):
    async with http.request(method, url, **kwargs) as resp:
        return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/v1/billing/usage?period=yesterday", None, 400, "invalid_period"),
        ("GET", "/v1/billing/usage?period=2026-13-01", None, 400, "invalid_period"),
        ("GET", "/v1/billing/usage?period=2026-11-1", None, 400, "invalid_period"),
        ("GET", "/v1/billing/usage?period=1999-01-01", None, 404, "period_not_found"),
        ("GET", "/v1/billing/invoices/not-a-uuid", None, 422, "invalid_request"),
        ("GET", "/v1/billing/invoices/00000000-0000-0000-0000-000000000000", None, 404, "invoice_not_found"),
        ("POST", "/v1/billing/balance/top-ups", {"amount_minor": 0}, 422, "invalid_request"),
        ("POST", "/v1/billing/balance/top-ups", {"amount_minor": -5}, 422, "invalid_request"),
        ("POST", "/v1/billing/balance/top-ups", {"amount_minor": 10**30}, 400, "amount_too_large"),
        ("POST", "/v1/billing/balance/top-ups", {"amount_minor": 1.5}, 422, "invalid_request"),
        ("POST", "/v1/billing/balance/top-ups", {"amount_minor": "100"}, 422, "invalid_request"),
        (
            "POST",
            "/v1/billing/balance/top-ups",
            {"amount_minor": 100, "success_url": "ftp://x"},
            422,
            "invalid_request",
        ),
        ("POST", "/v1/billing/balance/top-ups", {"amount_minor": 100, "currency": "EUR"}, 422, "invalid_request"),
        ("GET", "/v1/billing/balance/top-ups/not-a-uuid", None, 422, "invalid_request"),
        ("GET", "/v1/billing/balance/top-ups/00000000-0000-0000-0000-000000000000", None, 404, "top_up_not_found"),
        ("POST", "/v1/billing/subscription", {"plan": "platinum"}, 404, "plan_not_found"),
        ("POST", "/v1/billing/subscription", {"plan": 3}, 422, "invalid_request"),
        ("PUT", "/v1/billing/alerts", {"url": "ftp://example.com"}, 400, "invalid_url"),
        ("PUT", "/v1/billing/alerts", {"url": "http://"}, 400, "invalid_url"),
    ],
)
async def test_bad_tenant_input(billing_url, http, tenant, method, path, body, status, code):
    got, payload = await _call(http, method, billing_url + path, json=body, headers=tenant.auth)
    assert got == status, payload
    _assert_error(got, payload)
    assert payload["error"]["code"] == code


async def test_lone_surrogate_and_bad_json(billing_url, http, tenant):
    headers = {**tenant.auth, "Content-Type": "application/json"}
    for raw in (b'{"plan": "\\ud800"}', b"{nope", b"[]"):
        got, payload = await _call(http, "POST", f"{billing_url}/v1/billing/subscription", data=raw, headers=headers)
        _assert_error(got, payload)


async def test_auth_is_required(billing_url, billing_admin_url, http, admin_headers, tenant):
    got, payload = await _call(http, "GET", f"{billing_url}/v1/billing/balance")
    assert got == 401
    _assert_error(got, payload)
    got, payload = await _call(http, "GET", f"{billing_admin_url}/admin/billing/plans", headers=tenant.auth)
    assert got == 401
    got, payload = await _call(http, "GET", f"{billing_admin_url}/admin/billing/plans", headers=admin_headers)
    assert got == 200 and {"free", "pro", "enterprise"} <= {plan["code"] for plan in payload["data"]}
    # The tenant API serves no admin route, whatever the key: administration is the admin listener's.
    got, payload = await _call(http, "GET", f"{billing_url}/admin/billing/plans", headers=admin_headers)
    assert got == 404
    _assert_error(got, payload)


async def test_bad_admin_input(billing_admin_url, http, admin_headers):
    cases = [
        ("POST", "/admin/billing/plans", {"code": "x", "name": "x", "included_tokens": 1, "overage_policy": "bill"}),
        (
            "POST",
            "/admin/billing/plans",
            {
                "code": "free",
                "name": "Dup",
                "included_tokens": 1,
                "overage_policy": "bill",
                "prices": {"standard": {"input_minor_per_1k": "1", "output_minor_per_1k": "1"}},
            },
        ),
        ("PATCH", "/admin/billing/plans/nope", {"name": "x"}),
        (
            "PATCH",
            "/admin/billing/plans/free",
            {"prices": {"standard": {"input_minor_per_1k": "1e5", "output_minor_per_1k": "1"}}},
        ),
        # Found by the OpenAPI fuzz (were 500s): null for a NOT NULL plan field, a NUL in a plan name.
        ("PATCH", "/admin/billing/plans/free", {"overage_policy": None}),
        ("PATCH", "/admin/billing/plans/free", {"included_tokens": None, "soft_limit_pcts": None}),
        ("PATCH", "/admin/billing/plans/free", {"name": "Free\u0000"}),
        ("PUT", "/admin/billing/tenants/00000000-0000-0000-0000-000000000000/subscription", {"plan": "pro"}),
        ("POST", "/admin/billing/close-periods", {"now": "not a date"}),
        ("POST", "/admin/billing/close-periods", {"now": "2026-11-01T00:00:00"}),
        ("POST", "/admin/billing/close-periods", {"now": "2999-01-01T00:00:00Z"}),
    ]
    for method, path, body in cases:
        got, payload = await _call(http, method, billing_admin_url + path, json=body, headers=admin_headers)
        _assert_error(got, payload)


async def test_credit_grants_beyond_bigint_or_with_a_nul_reason_are_422(billing_admin_url, http, admin_headers, tenant):
    """Found by the OpenAPI fuzz: both were 500s (the ledger's bigint, Postgres refusing NUL in text)."""
    url = f"{billing_admin_url}/admin/billing/tenants/{tenant.id}/credit-grants"
    for body in (
        {"amount_minor": 2**70, "reason": "r"},
        {"amount_minor": 10**15 + 1, "reason": "r"},
        {"amount_minor": 5, "reason": "a\u0000"},
    ):
        headers = {**admin_headers, "Idempotency-Key": uuid.uuid4().hex}
        got, payload = await _call(http, "POST", url, json=body, headers=headers)
        assert got == 422, (body, payload)
        _assert_error(got, payload)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
_body = st.one_of(
    _json,
    st.fixed_dictionaries({"plan": _json}),
    st.fixed_dictionaries({"amount_minor": _json}),
    st.fixed_dictionaries({"url": _json}),
    st.fixed_dictionaries(
        {
            "code": st.text(max_size=12),
            "name": _json,
            "included_tokens": _json,
            "overage_policy": _json,
            "prices": _json,
        }
    ),
)
_ENDPOINTS = [
    ("GET", "/v1/billing/usage"),
    ("GET", "/v1/billing/invoice/preview"),
    ("GET", "/v1/billing/invoices"),
    ("GET", "/v1/billing/invoices/{x}"),
    ("GET", "/v1/billing/subscription"),
    ("POST", "/v1/billing/subscription"),
    ("GET", "/v1/billing/balance"),
    ("POST", "/v1/billing/balance/top-ups"),
    ("PUT", "/v1/billing/alerts"),
    ("GET", "/admin/billing/plans"),
    ("POST", "/admin/billing/plans"),
    ("PATCH", "/admin/billing/plans/{x}"),
    ("PUT", "/admin/billing/tenants/{x}/subscription"),
    ("GET", "/admin/billing/tenants/{x}/usage"),
    ("POST", "/admin/billing/close-periods"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    endpoint=st.sampled_from(_ENDPOINTS),
    body=_body,
    segment=st.text(max_size=40),
    period=st.none() | st.text(max_size=14) | st.dates().map(str),
    idem=st.none() | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    as_admin=st.booleans(),
)
def test_fuzz_never_5xx(billing_url, billing_admin_url, fuzz_auth, endpoint, body, segment, period, idem, as_admin):
    import asyncio

    method, path = endpoint
    base = billing_admin_url if path.startswith("/admin/") else billing_url
    url = base + path.replace("{x}", segment.replace("/", "_").replace("?", "_").replace("#", "_") or "x")
    headers = dict(fuzz_auth["admin" if as_admin else "tenant"])
    if idem is not None:
        headers["Idempotency-Key"] = idem
    params = {} if period is None else {"period": period}

    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.request(
                method,
                url,
                data=json.dumps(body),
                params=params,
                headers={**headers, "Content-Type": "application/json"},
            ) as resp:
                return resp.status, await resp.json(content_type=None)

    status, payload = asyncio.run(go())
    assert status < 500, (method, url, body, payload)
    if status >= 400:
        _assert_error(status, payload)


@pytest.fixture(scope="session")
async def fuzz_auth(make_tenant, admin_headers):
    tenant = await make_tenant()
    return {"tenant": tenant.auth, "admin": admin_headers}
