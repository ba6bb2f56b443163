"""One naming scheme on a real service's /metrics: the gateway, as a process, counts its chat route by
template, method and status in `http_requests_total` and times it in `http_request_duration_seconds`."""

from __future__ import annotations

import uuid

import aiohttp

from aiaas_testing import free_port, scrape_metrics


async def test_the_gateway_exports_the_shared_http_series(platform_stack, make_tenant) -> None:
    port = free_port()
    stack = platform_stack(GATEWAY_METRICS_PORT=str(port))
    gateway = stack.start("gateway", "gateway", http=True)
    tenant = await make_tenant(scopes=["chat"])
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    async with aiohttp.ClientSession(headers=tenant.auth) as http:
        for body in (chat, chat, {**chat, "model": "no-such-model"}):
            async with http.post(f"{gateway}/v1/chat/completions", json=body) as resp:
                await resp.read()
        entry = str(uuid.uuid4())  # a templated path: one series per route, not one per id
        async with http.delete(f"{gateway}/v1/cache/{entry}") as resp:
            await resp.read()
            templated_status = str(resp.status)

    samples = await scrape_metrics(f"http://127.0.0.1:{port}/metrics")
    counted = {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for s in samples
        if s.name == "http_requests_total" and s.labels["service"] == "gateway"
    }
    assert counted[("/v1/chat/completions", "POST", "200")] == 2.0
    assert counted[("/v1/chat/completions", "POST", "404")] == 1.0
    assert counted[("/v1/cache/{entry_id}", "DELETE", templated_status)] == 1.0
    assert not any(entry in route for route, _, _ in counted), counted
    timed = [
        s
        for s in samples
        if s.name == "http_request_duration_seconds_count" and s.labels.get("route") == "/v1/chat/completions"
    ]
    assert [s.value for s in timed] == [3.0]
