"""Bad input gets a clear 4xx in OpenAI's error shape; never a 500 or a stack trace."""

from __future__ import annotations

import json

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _assert_error_shape(body: dict, status: int) -> None:
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["type"], str) and isinstance(error["code"], str) and isinstance(error["message"], str)
    assert "Traceback" not in error["message"]


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def _post(http, url, *, data=None, headers=None, json=None):
    async with http.post(f"{url}/v1/chat/completions", data=data, json=json, headers=headers or {}) as resp:
        return resp.status, await resp.json(content_type=None)


GOOD = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b'{"model": "chat", "messages": [{"role": "user", "content": "\\ud800"}]}', 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b'{"model": 5, "messages": []}', 422, "invalid_request"),
        (b'{"model": "chat", "messages": []}', 422, "invalid_request"),
        (b'{"model": "chat", "messages": [{"role": "wizard", "content": "x"}]}', 422, "invalid_request"),
        (
            b'{"model": "chat", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}',
            422,
            "invalid_request",
        ),
        (b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', 404, "model_not_found"),
    ],
)
async def test_bad_bodies(http, gateway_url, tenant, body, status, code):
    got, payload = await _post(
        http, gateway_url, data=body, headers={**tenant.auth, "Content-Type": "application/json"}
    )
    assert got == status, payload
    _assert_error_shape(payload, got)
    assert payload["error"]["code"] == code


async def test_oversize_body_is_413(http, gateway_url, tenant):
    big = {"model": "chat", "messages": [{"role": "user", "content": "x" * 2_000_000}]}
    status, payload = await _post(http, gateway_url, json=big, headers=tenant.auth)
    assert status == 413
    _assert_error_shape(payload, status)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer nope",
        "Basic abc",
        "Bearer sk-aiaas-" + "x" * 32,
        "Bearer " + "sk-aiaas-" * 50,
    ],
)
async def test_bad_keys_are_401(http, gateway_url, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    status, payload = await _post(http, gateway_url, json=GOOD, headers=headers)
    assert status == 401
    _assert_error_shape(payload, status)
    assert payload["error"]["type"] == "authentication_error"


async def test_unknown_route_and_method(http, gateway_url, tenant):
    async with http.get(f"{gateway_url}/v1/nothing-here", headers=tenant.auth) as resp:
        assert resp.status == 404
        _assert_error_shape(await resp.json(), 404)
    async with http.delete(f"{gateway_url}/v1/chat/completions", headers=tenant.auth) as resp:
        assert resp.status == 405
        _assert_error_shape(await resp.json(), 405)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "tool", "x"]), "content": json_values}
)
bodies = st.one_of(
    st.binary(max_size=200),
    st.fixed_dictionaries(
        {
            "model": st.sampled_from(["chat", "claude", "nope"]) | json_values,
            "messages": st.lists(message, max_size=3) | json_values,
        },
        optional={
            "temperature": json_values,
            "max_tokens": json_values,
            "stream": json_values,
            "stop": json_values,
            "tools": json_values,
            "n": json_values,
        },
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=bodies,
    extra_header=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
)
async def test_fuzz_no_5xx(gateway_url, fuzz_tenant_key, body, extra_header):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "Authorization": f"Bearer {fuzz_tenant_key}",
        "Content-Type": "application/json",
        "X-Fuzz": extra_header,
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gateway_url}/v1/chat/completions", data=data, headers=headers) as resp,
    ):
        raw = await resp.read()
        assert resp.status < 500, raw
        if resp.status >= 400:
            _assert_error_shape(json.loads(raw), resp.status)
