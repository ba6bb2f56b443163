"""aiaas.observability.http_metrics through service_app: one scheme, route templates, fast routes included."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from fastapi import APIRouter, FastAPI, WebSocket
from starlette.types import Send

from aiaas.deps import set_service_state
from aiaas.errors import PlatformError
from aiaas.fast_route import FastRequest, send_json
from aiaas.observability.http_metrics import HTTP_LATENCY_BUCKETS
from aiaas.service_app import service_app
from aiaas.settings import ServiceSettings
from aiaas_testing import free_port, scrape_metrics, serve_asgi


@dataclass
class _Fast:
    path: str = "/v1/fast"

    async def serve(self, request: FastRequest, send: Send) -> int:
        await request.body()
        await send_json(send, 201, b"{}", ())
        return 201

    def document(self, openapi: dict[str, Any]) -> None:
        openapi.setdefault("paths", {})[self.path] = {"post": {"summary": "Fast"}}


items = APIRouter()


@items.get("/v1/items/{item_id}")
async def get_item(item_id: str) -> dict[str, str]:
    if item_id == "missing":
        raise PlatformError("no such item", status=404, type="not_found_error", code="not_found")
    if item_id == "bug":
        raise RuntimeError("a bug")
    return {"id": item_id}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    set_service_state(app, "state")
    yield


async def test_requests_are_counted_by_route_template_method_and_status() -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"  # its own series in the process-wide registry
    port = free_port()
    settings = ServiceSettings(service_name=service, metrics_port=port)
    app = service_app(settings, title="t", lifespan=_lifespan, routers=[items], tracing=False, fast_routes=[_Fast()])
    async with serve_asgi(app) as url, aiohttp.ClientSession() as http:
        for path in ("/v1/items/a1", "/v1/items/b2", "/v1/items/missing", "/v1/items/bug", "/nowhere/123"):
            async with http.get(url + path) as resp:
                await resp.read()
        async with http.post(f"{url}/v1/fast", data=b"x") as resp:
            assert resp.status == 201
        samples = await scrape_metrics(f"http://127.0.0.1:{port}/metrics")

    mine = [s for s in samples if s.labels.get("service") == service]
    counted = {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for s in mine
        if s.name == "http_requests_total"
    }
    assert counted == {
        ("/v1/items/{item_id}", "GET", "200"): 2.0,
        ("/v1/items/{item_id}", "GET", "404"): 1.0,
        ("/v1/items/{item_id}", "GET", "500"): 1.0,
        ("unmatched", "GET", "404"): 1.0,
        ("/v1/fast", "POST", "201"): 1.0,
    }
    counts = [s for s in mine if s.name == "http_request_duration_seconds_count"]
    timed = {(s.labels["route"], s.labels["method"]): s.value for s in counts}
    assert timed == {("/v1/items/{item_id}", "GET"): 4.0, ("unmatched", "GET"): 1.0, ("/v1/fast", "POST"): 1.0}
    bounds = sorted(
        float(s.labels["le"])
        for s in mine
        if s.name == "http_request_duration_seconds_bucket" and s.labels["route"] == "/v1/fast"
    )
    assert bounds == [*HTTP_LATENCY_BUCKETS, float("inf")]


async def test_websocket_and_lifespan_scopes_are_not_counted() -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    port = free_port()
    ws = APIRouter()

    @ws.websocket("/v1/ws")
    async def echo(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text(await socket.receive_text())
        await socket.close()

    settings = ServiceSettings(service_name=service, metrics_port=port)
    app = service_app(settings, title="t", lifespan=_lifespan, routers=[ws], tracing=False)
    async with serve_asgi(app) as url, aiohttp.ClientSession() as http:
        async with http.ws_connect(url.replace("http", "ws") + "/v1/ws") as socket:
            await socket.send_str("hi")
            assert (await socket.receive()).data == "hi"
        samples = await scrape_metrics(f"http://127.0.0.1:{port}/metrics")
    assert [s for s in samples if s.labels.get("service") == service] == []
