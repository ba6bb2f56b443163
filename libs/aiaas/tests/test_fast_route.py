"""aiaas.fast_route through service_app: a hot route keeps the app's body limit, error shape and OpenAPI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from fastapi import APIRouter, FastAPI
from starlette.types import Send

from aiaas.deps import set_service_state
from aiaas.errors import RateLimited
from aiaas.fast_route import FastRequest, send_event_stream, send_json
from aiaas.service_app import service_app
from aiaas.settings import ServiceSettings
from aiaas_testing import serve_asgi

LIMIT = 64


@dataclass
class _Echo:
    """Answers with the body's length; `mode` in the body picks an error or a stream."""

    path: str = "/v1/echo"
    served: list[int] = field(default_factory=list)

    async def serve(self, request: FastRequest, send: Send) -> int:
        if request.authorization != "Bearer ok":
            raise RateLimited("slow down", retry_after=2.5)
        body = await request.body()
        self.served.append(len(body))
        if body == b"boom":
            raise RuntimeError("a bug")
        if body == b"stream":

            async def events() -> AsyncIterator[bytes]:
                for word in (b"a", b"b"):
                    yield b"data: " + word + b"\n\n"

            await send_event_stream(request, send, events(), {"x-state": str(request.state)})
            return 200
        await send_json(send, 200, b'{"n": %d}' % len(body), [("x-state", str(request.state))])
        return 200

    def document(self, openapi: dict[str, Any]) -> None:
        openapi.setdefault("paths", {})[self.path] = {"post": {"summary": "Echo"}}


other = APIRouter()


@other.post("/v1/slow")
async def slow(body: dict[str, int]) -> dict[str, int]:
    return body


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, _Echo]]:
    echo = _Echo()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        set_service_state(app, "the-state")
        yield

    app = service_app(
        ServiceSettings(),
        title="t",
        lifespan=lifespan,
        routers=[other],
        tracing=True,
        max_body_bytes=LIMIT,
        fast_routes=[echo],
    )
    async with serve_asgi(app) as url:
        yield url, echo


async def test_the_fast_route_answers_with_the_state_the_lifespan_set(served) -> None:
    url, echo = served
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer ok"}) as http:
        async with http.post(f"{url}/v1/echo", data=b"hello") as resp:
            assert resp.status == 200
            assert await resp.json() == {"n": 5}
            assert resp.headers["x-state"] == "the-state"
        async with http.post(f"{url}/v1/echo", data=b"stream") as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            assert await resp.read() == b"data: a\n\ndata: b\n\n"
    assert echo.served == [5, 6]


async def test_errors_render_in_the_shared_shape(served) -> None:
    url, echo = served
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/v1/echo", data=b"x") as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "3"
            assert (await resp.json())["error"] == {
                "type": "rate_limit_error",
                "code": "rate_limit_exceeded",
                "message": "slow down",
                "param": None,
            }
        async with http.get(f"{url}/v1/echo") as resp:
            assert resp.status == 405 and resp.headers["Allow"] == "POST"
            assert (await resp.json())["error"]["code"] == "method_not_allowed"
        async with http.post(f"{url}/v1/echo", data=b"boom", headers={"Authorization": "Bearer ok"}) as resp:
            assert resp.status == 500
            assert await resp.json() == {
                "error": {"type": "api_error", "code": "internal_error", "message": "internal error", "param": None}
            }
    assert echo.served == [4]


async def test_the_app_body_limit_holds_on_the_fast_route_as_on_the_others(served) -> None:
    url, echo = served
    big = b"x" * (LIMIT + 1)
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer ok"}) as http:
        messages = []
        for path, data in (("/v1/echo", big), ("/v1/slow", b'{"a": 1, "pad": "' + big + b'"}')):
            async with http.post(f"{url}{path}", data=data) as resp:
                assert resp.status == 413
                messages.append((await resp.json())["error"]["message"])
        assert messages == [f"Request body exceeds the limit of {LIMIT} bytes."] * 2

        # Declared too large: refused before the handler runs (so before it checks credentials).
        async with http.post(f"{url}/v1/echo", data=big, headers={"Authorization": "Bearer nope"}) as resp:
            assert resp.status == 413
    assert echo.served == []


async def test_a_chunked_body_past_the_limit_is_413(served) -> None:
    url, echo = served
    host, port = url.removeprefix("http://").split(":")
    # A raw connection: the client libraries would send a Content-Length the route checks first.
    reader, writer = await asyncio.open_connection(host, int(port))
    chunk = b"y" * 40
    writer.write(
        b"POST /v1/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ok\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"%x\r\n%s\r\n" % (len(chunk), chunk)) * 2
        + b"0\r\n\r\n"
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413")
    assert b'"code":"payload_too_large"' in answer
    assert echo.served == []


async def test_the_fast_route_is_documented_in_openapi(served) -> None:
    url, _ = served
    async with aiohttp.ClientSession() as http, http.get(f"{url}/openapi.json") as resp:
        paths = (await resp.json())["paths"]
    assert paths["/v1/echo"] == {"post": {"summary": "Echo"}}
    assert "/v1/slow" in paths
