"""Bad input gets a 4xx in the platform's error shape; never a 500 (parametrized cases and a fuzz)."""

from __future__ import annotations

import json

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

OK = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}


@pytest.fixture(scope="module")
async def fuzz_tenant(make_tenant):
    return await make_tenant()


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"start": "yesterday", "end": OK["end"]}, 422, "invalid_request"),
        ({"start": OK["start"], "end": "2026-13-40T00:00:00Z"}, 422, "invalid_request"),
        ({"start": OK["start"]}, 422, "invalid_request"),
        ({}, 422, "invalid_request"),
        ({**OK, "granularity": "week"}, 422, "invalid_request"),
        ({**OK, "api_key_id": "not-a-uuid"}, 422, "invalid_request"),
        ({**OK, "model": ""}, 422, "invalid_request"),
        ({**OK, "model": "a\x00b"}, 422, "invalid_request"),
        ({**OK, "model": "m" * 201}, 422, "invalid_request"),
        ({"start": OK["end"], "end": OK["start"]}, 400, "invalid_range"),
        ({"start": OK["start"], "end": OK["start"]}, 400, "invalid_range"),
        ({**OK, "end": "2026-01-03T00:00:01Z", "granularity": "minute"}, 400, "range_too_large"),
        (
            {"start": "2024-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z", "granularity": "day"},
            400,
            "range_too_large",
        ),
        (
            {"start": "2026-01-01T00:00:00Z", "end": "2026-06-01T00:00:00Z", "granularity": "hour"},
            400,
            "range_too_large",
        ),
        ({"start": "0001-01-01T00:00:00+01:00", "end": OK["end"]}, 400, "out_of_range"),
        ({"start": OK["start"], "end": "9999-12-31T23:59:59-14:00"}, 400, "out_of_range"),
        ({"start": "1999-12-31T00:00:00Z", "end": "2000-01-01T00:00:00Z"}, 400, "out_of_range"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/analytics/kpis", "/v1/analytics/kpis.csv"])
async def test_bad_queries(h, http, stack, fuzz_tenant, path, params, status, code):
    async with http.get(stack.url(path), params=params, headers=fuzz_tenant.auth) as resp:
        assert resp.status == status, await resp.text()
        assert resp.headers["content-type"].startswith("application/json")
        body = await resp.json()
    h.assert_error_shape(body)
    assert body["error"]["code"] == code


async def test_unaligned_range_is_widened_to_whole_buckets(h, http, stack, fuzz_tenant):
    status, body = await h.get_json(
        http,
        f"{stack.api_url}/v1/analytics/kpis",
        fuzz_tenant.auth,
        start="2026-01-01T10:30:00+02:00",
        end="2026-01-01T12:00:01",
        granularity="hour",
    )
    assert status == 200
    assert (body["start"], body["end"]) == ("2026-01-01T08:00:00Z", "2026-01-01T13:00:00Z")


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer nope", "Basic abc", "Bearer sk-aiaas-" + "x" * 32]
)
async def test_bad_keys_are_401(h, http, stack, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    for path in ("/v1/analytics/kpis", "/v1/analytics/kpis.csv", "/admin/analytics/kpis"):
        async with http.get(stack.url(path), params=OK, headers=headers) as resp:
            assert resp.status == 401
            h.assert_error_shape(await resp.json())


async def test_unknown_route_and_method(h, http, stack, fuzz_tenant):
    async with http.get(f"{stack.api_url}/v1/analytics/nothing", headers=fuzz_tenant.auth) as resp:
        assert resp.status == 404
        h.assert_error_shape(await resp.json())
    async with http.post(f"{stack.api_url}/v1/analytics/kpis", headers=fuzz_tenant.auth) as resp:
        assert resp.status == 405
        h.assert_error_shape(await resp.json())


_text = st.text(max_size=40)
# What an HTTP client lets through in a header value (aiohttp refuses control characters itself).
_header_chars = st.characters(min_codepoint=32, max_codepoint=126)
_dates = st.one_of(
    _text,
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
)
_queries = st.fixed_dictionaries(
    {},
    optional={
        "start": _dates,
        "end": _dates,
        "granularity": st.sampled_from(["minute", "hour", "day", "week", ""]) | _text,
        "model": _text,
        "api_key_id": st.uuids().map(str) | _text,
        "tenant_id": st.uuids().map(str) | _text,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(["/v1/analytics/kpis", "/v1/analytics/kpis.csv", "/admin/analytics/kpis"]),
    query=_queries,
    authorization=st.sampled_from(["tenant", "admin", "none"]) | st.text(alphabet=_header_chars, max_size=30),
    extra_header=st.text(alphabet=_header_chars, max_size=30),
)
async def test_fuzz_no_5xx(h, stack, fuzz_tenant, admin_headers, path, query, authorization, extra_header):
    auth = {"tenant": fuzz_tenant.auth["Authorization"], "admin": admin_headers["Authorization"], "none": None}
    value = auth.get(authorization, authorization)
    headers = {"X-Fuzz": extra_header}
    if value is not None:
        headers["Authorization"] = value
    async with (
        aiohttp.ClientSession() as http,
        http.get(stack.url(path), params=query, headers=headers) as resp,
    ):
        raw = await resp.read()
        assert resp.status < 500, raw
        if resp.status >= 400:
            h.assert_error_shape(json.loads(raw))
