"""A fuzz over the admin API bodies and paths: never a 5xx, always the one error shape on 4xx."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .factories import ADMIN, assert_error, call

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
_fields = {
    "key": st.from_regex(r"fz[a-z0-9_]{0,8}", fullmatch=True) | st.text(max_size=70),
    "type": st.sampled_from(["boolean", "percentage", "variant", "integer", "string_list", "x"]) | _json,
    "default": _json,
    "value": _json,
    "variants": st.lists(
        st.text(max_size=5)
        | st.fixed_dictionaries({"value": st.text(max_size=5), "weight": st.integers(-5, 20_000) | _json}),
        max_size=4,
    )
    | _json,
    "min_value": st.integers() | _json,
    "max_value": st.integers() | _json,
    "description": st.text(max_size=30) | _json,
    "reason": st.text(max_size=10) | _json,
    "name": st.text(max_size=10),
    "deployments": _json,
    "input_schema": _json | st.just({"type": "object"}) | st.just({"type": 12}) | st.just({"$schema": []}),
    "output_schema": _json | st.just({"type": "string"}),
}
_body = st.one_of(
    _json,
    st.lists(st.sampled_from(sorted(_fields)), max_size=6, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({k: _fields[k] for k in keys})
    ),
)
_ENDPOINTS = [
    ("POST", "/admin/flags"),
    ("PATCH", "/admin/flags/{flag}"),
    ("DELETE", "/admin/flags/{x}"),
    ("PUT", "/admin/flags/{flag}/plans/{x}"),
    ("DELETE", "/admin/flags/{flag}/plans/{x}"),
    ("PUT", "/admin/flags/{flag}/tenants/{tenant}"),
    ("PUT", "/admin/flags/{flag}/tenants/{x}"),
    ("DELETE", "/admin/flags/{flag}/tenants/{tenant}"),
    ("GET", "/admin/flags/{x}"),
    ("GET", "/admin/flags/audit?flag={x}&limit={x}&tenant_id={x}&before_id={x}"),
    ("PUT", "/admin/models/{x}"),
    ("GET", "/admin/models/{x}?version={x}"),
    ("PUT", "/admin/tools/{x}"),
    ("PUT", "/admin/agents/{x}"),
]


@pytest.fixture(scope="session")
async def fuzz_target(cp_url, make_tenant):
    tenant = await make_tenant()
    async with aiohttp.ClientSession() as http:
        for key, type_, default in (("fz_bool", "boolean", True), ("fz_pct", "percentage", 5)):
            body = {"key": key, "type": type_, "default": default, "reason": "fuzz"}
            assert (await call(http, "POST", f"{cp_url}/admin/flags", body))[0] in (201, 409)
    yield {"tenant": str(tenant.id)}
    async with aiohttp.ClientSession() as http:  # the fuzz's flags leave (their audit rows stay)
        _, listed = await call(http, "GET", f"{cp_url}/admin/flags")
        for flag in listed["data"]:
            if flag["key"].startswith("fz"):
                await call(http, "DELETE", f"{cp_url}/admin/flags/{flag['key']}", {"reason": "fuzz cleanup"})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    endpoint=st.sampled_from(_ENDPOINTS),
    flag=st.sampled_from(["fz_bool", "fz_pct", "fz_missing"]),
    segment=st.text(max_size=30),
    body=_body,
)
def test_fuzz_never_5xx(cp_url, fuzz_target, endpoint, flag, segment, body):
    method, path = endpoint
    x = segment.replace("/", "_").replace("?", "_").replace("#", "_").replace("&", "_") or "x"
    url = cp_url + path.format(flag=flag, tenant=fuzz_target["tenant"], x=x)

    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.request(
                method, url, data=json.dumps(body), headers={**ADMIN, "Content-Type": "application/json"}
            ) as resp:
                return resp.status, await resp.json(content_type=None)

    status, payload = asyncio.run(go())
    assert status < 500, (method, url, body, payload)
    if status >= 400:
        assert_error(status, payload)


async def test_bad_json_and_lone_surrogates(http, cp_url) -> None:
    headers = {**ADMIN, "Content-Type": "application/json"}
    for raw in (b'{"key": "\\ud800", "type": "boolean", "default": true, "reason": "r"}', b"{nope", b"[]"):
        async with http.post(f"{cp_url}/admin/flags", data=raw, headers=headers) as resp:
            assert_error(resp.status, await resp.json(content_type=None))
    async with http.post(f"{cp_url}/admin/flags", data=b"x" * 300_000, headers=headers) as resp:
        assert_error(resp.status, await resp.json(content_type=None), 413)
    status, body = await call(http, "PUT", f"{cp_url}/admin/flags/streaming_enabled", {"value": True}, ADMIN)
    assert_error(status, body, 405)


async def test_text_postgres_cannot_store_is_a_422(http, cp_url, fuzz_target) -> None:
    """Found by the OpenAPI fuzz: a NUL in a reason (the audit row's text) or in a flag value was a 500."""
    cases = [
        ("PATCH", "/admin/flags/fz_bool", {"reason": "why\u0000"}),
        ("PATCH", "/admin/flags/fz_bool", {"description": "d\u0000", "reason": "r"}),
        ("POST", "/admin/flags", {"key": "fz_nul", "type": "string_list", "default": ["a\u0000"], "reason": "r"}),
        ("PUT", f"/admin/flags/fz_bool/tenants/{fuzz_target['tenant']}", {"value": True, "reason": "\u0000"}),
    ]
    for method, path, body in cases:
        status, payload = await call(http, method, cp_url + path, body)
        assert_error(status, payload, 422)
