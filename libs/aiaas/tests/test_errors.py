"""Error rendering and the body-size limit, against a real uvicorn server on a free port."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest
import uvicorn
from fastapi import FastAPI, Request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from aiaas.errors import (
    BadRequest,
    BodySizeLimitMiddleware,
    Forbidden,
    NotFound,
    PlatformError,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    UpstreamError,
    install_error_handlers,
)

_LIMIT = 1024


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    count: int
    tags: list[str] = []


def _build_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/items")
    async def create_item(item: _Item) -> dict[str, int]:
        return {"name_chars": len(item.name), "count": item.count}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.get("/raise/{kind}")
    async def raise_error(kind: str) -> None:
        errors: dict[str, PlatformError] = {
            "bad": BadRequest("Bad thing.", code="bad_thing", param="messages"),
            "unauthorized": Unauthorized("Incorrect API key provided."),
            "forbidden": Forbidden("No.", code="insufficient_scope"),
            "missing": NotFound("Model 'x' not found.", code="model_not_found", param="model"),
            "limited": RateLimited("Slow down.", retry_after=2.2, headers={"x-ratelimit-remaining": "0"}),
            "upstream": UpstreamError("Upstream failed."),
            "unavailable": ServiceUnavailable("Try later.", retry_after=5),
            "custom": PlatformError("Gateway timeout.", status=504, type="api_error", code="timeout"),
        }
        raise errors[kind]

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret-detail-at /etc/passwd")

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=_LIMIT)
    return app


@dataclass
class _Server:
    host: str
    port: int

    def request(
        self, method: str, path: str, body: bytes | Iterator[bytes] | None = None, headers: dict | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            chunked = body is not None and not isinstance(body, bytes)
            conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def post_json(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        return self.request("POST", path, body, {"content-type": "application/json"})


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_build_app(), log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield _Server("127.0.0.1", sock.getsockname()[1])
    uv.should_exit = True
    thread.join(10)
    sock.close()


def _error(status: int, type_: str, code: str, message: str, param: str | None = None) -> dict:
    return {"error": {"type": type_, "code": code, "message": message, "param": param}}


def test_valid_body_passes(server):
    status, _, body = server.post_json("/items", b'{"name": "abc", "count": 2}')
    assert (status, orjson.loads(body)) == (200, {"name_chars": 3, "count": 2})


def test_malformed_json_is_400(server):
    status, headers, body = server.post_json("/items", b'{"name": "abc", "count": ')
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert orjson.loads(body) == _error(
        400, "invalid_request_error", "invalid_json", "We could not parse the JSON body of your request."
    )


def test_wrong_types_are_422_without_echoing_input(server):
    status, _, body = server.post_json("/items", b'{"name": 12345, "count": "many-secret-value"}')
    assert status == 422
    error = orjson.loads(body)["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_request"
    assert error["param"] == "name"
    assert error["message"] == (
        "Invalid request: name: Input should be a valid string; "
        "count: Input should be a valid integer, unable to parse string as an integer"
    )
    assert b"many-secret-value" not in body


def test_missing_fields_and_many_errors_are_summarised(server):
    status, _, body = server.post_json("/items", b'{"tags": [1, 2, 3, 4]}')
    assert status == 422
    message = orjson.loads(body)["error"]["message"]
    assert message.startswith("Invalid request: name: Field required; count: Field required; tags.0: ")
    assert message.endswith("(and 3 more)")


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"name": "\\ud800", "count": 1}', 200),  # a lone surrogate in a valid field is just a string
        (b'{"name": "ok", "count": "\\ud800"}', 422),
        (b'{"name": "ok", "count": 1, "\\udfff": 1}', 422),  # in the *location* of an error
        (b'{"name": "\xed\xa0\x80", "count": "x"}', 422),  # surrogate encoded as raw bytes
        (b'{"name": "\xff\xfe", "count": 1}', 400),  # not UTF-8 at all
    ],
)
def test_lone_surrogates_never_cause_a_500(server, raw, status):
    got, _, body = server.post_json("/items", raw)
    assert got == status
    parsed = json.loads(body)
    if status != 200:
        assert set(parsed["error"]) == {"type", "code", "message", "param"}
        assert parsed["error"]["type"] == "invalid_request_error"


def test_surrogate_key_is_reported_without_echo(server):
    status, _, body = server.post_json("/items", b'{"name": "ok", "count": 1, "\\udfff": 1}')
    assert status == 422
    assert orjson.loads(body)["error"] == {
        "type": "invalid_request_error",
        "code": "invalid_request",
        "message": (
            "Invalid request: body: Input should be a valid string, unable to parse raw data as a unicode string"
        ),
        "param": None,
    }


_junk_text = st.text(alphabet=st.characters(codec=None, categories=None), max_size=40)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _junk_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_junk_text, inner, max_size=4),
    max_leaves=12,
)
_bodies = st.one_of(
    st.binary(max_size=200),
    _junk_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
    _json_values.map(lambda v: json.dumps(v).encode()),  # ensure_ascii: surrogates become \\udXXX escapes
    st.dictionaries(_junk_text, _json_values, max_size=4).map(
        lambda d: json.dumps({"name": "n", "count": 1, **d}, ensure_ascii=False).encode("utf-8", "surrogatepass")
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=_bodies)
def test_junk_bodies_get_a_4xx_json_error_or_succeed(server, raw):
    status, headers, body = server.post_json("/items", raw)
    assert status in (200, 400, 413, 422), body
    assert headers["content-type"] == "application/json"
    parsed = json.loads(body)
    if status != 200:
        assert set(parsed["error"]) == {"type", "code", "message", "param"}


def test_unknown_route_is_404_json(server):
    status, _, body = server.request("GET", "/nope")
    assert (status, orjson.loads(body)) == (404, _error(404, "not_found_error", "not_found", "Not Found"))


def test_wrong_method_is_405_json_with_allow(server):
    status, headers, body = server.request("GET", "/items")
    assert status == 405
    assert headers["allow"] == "POST"
    assert orjson.loads(body) == _error(405, "invalid_request_error", "method_not_allowed", "Method Not Allowed")


@pytest.mark.parametrize(
    ("kind", "status", "expected", "extra_headers"),
    [
        ("bad", 400, _error(400, "invalid_request_error", "bad_thing", "Bad thing.", "messages"), {}),
        (
            "unauthorized",
            401,
            _error(401, "authentication_error", "invalid_api_key", "Incorrect API key provided."),
            {},
        ),
        ("forbidden", 403, _error(403, "permission_error", "insufficient_scope", "No."), {}),
        ("missing", 404, _error(404, "not_found_error", "model_not_found", "Model 'x' not found.", "model"), {}),
        (
            "limited",
            429,
            _error(429, "rate_limit_error", "rate_limit_exceeded", "Slow down."),
            {"retry-after": "3", "x-ratelimit-remaining": "0"},
        ),
        ("upstream", 502, _error(502, "api_error", "upstream_error", "Upstream failed."), {}),
        ("unavailable", 503, _error(503, "api_error", "service_unavailable", "Try later."), {"retry-after": "5"}),
        ("custom", 504, _error(504, "api_error", "timeout", "Gateway timeout."), {}),
    ],
)
def test_platform_errors_render_status_body_and_headers(server, kind, status, expected, extra_headers):
    got, headers, body = server.request("GET", f"/raise/{kind}")
    assert got == status
    assert orjson.loads(body) == expected
    for name, value in extra_headers.items():
        assert headers[name] == value


def test_unhandled_error_is_a_500_without_details(server, caplog):
    with caplog.at_level(logging.ERROR, logger="aiaas.errors"):
        status, _, body = server.request("GET", "/boom")
    assert status == 500
    assert orjson.loads(body) == _error(500, "api_error", "internal_error", "internal error")
    assert b"secret-detail" not in body and b"Traceback" not in body
    logged = [r for r in caplog.records if r.name == "aiaas.errors"]
    assert len(logged) == 1
    assert logged[0].exc_info is not None and "secret-detail" in str(logged[0].exc_info[1])
    assert logged[0].path == "/boom"


def test_declared_content_length_over_limit_is_413(server):
    status, _, body = server.post_json("/items", b"x" * (_LIMIT + 1))
    assert status == 413
    assert orjson.loads(body) == _error(
        413, "invalid_request_error", "payload_too_large", f"Request body exceeds the limit of {_LIMIT} bytes."
    )


def test_body_at_the_limit_is_accepted(server):
    status, _, body = server.request("POST", "/raw", b"x" * _LIMIT)
    assert (status, orjson.loads(body)) == (200, {"received": _LIMIT})


def test_chunked_body_over_limit_is_413(server):
    chunks = iter([b"y" * 300] * 5)
    status, _, body = server.request("POST", "/raw", chunks)
    assert status == 413
    assert orjson.loads(body)["error"]["code"] == "payload_too_large"


def test_chunked_json_body_over_limit_is_413(server):
    chunks = iter([b'{"name": "', b"z" * 600, b"z" * 600, b'", "count": 1}'])
    status, _, body = server.request("POST", "/items", chunks, {"content-type": "application/json"})
    assert status == 413
    assert orjson.loads(body)["error"]["type"] == "invalid_request_error"


def test_chunked_body_under_limit_passes(server):
    status, _, body = server.request("POST", "/raw", iter([b"a" * 400, b"b" * 400]))
    assert (status, orjson.loads(body)) == (200, {"received": 800})


def test_headers_merge_and_retry_after_rounds_up():
    error = RateLimited("x", retry_after=0.2, headers={"Retry-After": "7"})
    assert error.headers == {"Retry-After": "7"}
    assert RateLimited("x", retry_after=0.2).headers == {"Retry-After": "1"}
    assert RateLimited("x").headers is None


def test_error_text_with_lone_surrogates_still_renders():
    response = BadRequest("bad value '\ud800'", param="messages.\udfff").to_response()
    assert response.status_code == 400
    assert orjson.loads(response.body) == _error(
        400, "invalid_request_error", "invalid_request", "bad value '\\ud800'", "messages.\\udfff"
    )
