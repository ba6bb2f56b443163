"""The plain helpers of aiaas_testing: polling, metric sums, a served aiohttp app, free ports."""

from __future__ import annotations

import socket
import uuid
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.samples import Sample

from aiaas.events.schemas import USAGE_RECORDED, UsageRecorded
from aiaas_testing import free_port, metric_value, serve_local, wait_for
from aiaas_testing.events import usage_recorded


async def test_wait_for_returns_the_first_truthy_value() -> None:
    calls = iter([0, None, "", 7])

    async def next_value() -> int | str | None:
        return next(calls)

    assert await wait_for(next_value, timeout_s=5, interval_s=0.001) == 7


async def test_wait_for_fails_after_its_timeout() -> None:
    async def never() -> bool:
        return False

    with pytest.raises(AssertionError, match="not met"):
        await wait_for(never, timeout_s=0.05, interval_s=0.01)


def test_metric_value_sums_the_samples_whose_labels_match() -> None:
    samples = [
        Sample("hits_total", {"route": "/a", "code": "200"}, 2.0),
        Sample("hits_total", {"route": "/a", "code": "500"}, 1.0),
        Sample("hits_total", {"route": "/b", "code": "200"}, 5.0),
        Sample("misses_total", {"route": "/a"}, 9.0),
    ]
    assert metric_value(samples, "hits_total", route="/a") == 3.0
    assert metric_value(samples, "hits_total") == 8.0
    assert metric_value(samples, "hits_total", route="/c") == 0


async def test_serve_local_serves_the_app_while_the_block_runs() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hi")

    app = web.Application()
    app.router.add_get("/", hello)
    async with serve_local(app) as url:
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert (resp.status, await resp.text()) == (200, "hi")
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http, http.get(url):
            pass


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_usage_recorded_is_a_valid_event_with_a_deterministic_id() -> None:
    tenant, key = uuid.uuid4(), uuid.uuid4()
    first = usage_recorded(tenant, key, request_id="req-1", status="error", ttft_ms=3.0, extra={"cache_hit": True})
    again = usage_recorded(tenant, key, request_id="req-1")
    assert first.id == again.id and first.type == USAGE_RECORDED and first.tenant_id == tenant
    data = UsageRecorded.model_validate({k: v for k, v in first.data.items() if k != "cache_hit"})
    assert (data.http_status, data.error_code, data.stream, data.deployment) == (502, "upstream_error", True, "chat-a")
    assert first.data["cache_hit"] is True
    assert data.completed_at - data.started_at == timedelta(milliseconds=10)
