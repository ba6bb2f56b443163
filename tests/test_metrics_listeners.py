"""Every HTTP service serves Prometheus metrics on a listener of its own, and no series names a tenant or a key.

The whole platform runs as processes, each with its `<PREFIX>_METRICS_PORT`. A tenant's traffic goes
through the gateway (served, rate limited, streamed, an unknown model), billing and analytics; then on
every service the tenant-facing port answers 404 for `/metrics`, and the metrics listener's series carry
no tenant/key label and no label value that is the tenant's id, the key's id or a name the request chose.
"""

from __future__ import annotations

import uuid

import aiohttp

from aiaas_testing import free_port, scrape_metrics

# process name (aiaas.roles), module, metrics port variable
_SERVICES = [
    ("gateway", "gateway", "GATEWAY_METRICS_PORT"),
    ("billing", "billing", "BILLING_METRICS_PORT"),
    ("billing-admin", "billing.admin", "BILLING_ADMIN_METRICS_PORT"),
    ("analytics", "analytics", "ANALYTICS_METRICS_PORT"),
    ("analytics-admin", "analytics.admin", "ANALYTICS_ADMIN_METRICS_PORT"),
    ("control-plane", "control_plane", "CONTROL_PLANE_METRICS_PORT"),
    ("realtime", "realtime", "REALTIME_METRICS_PORT"),
]
_FORBIDDEN_LABELS = {"tenant", "tenant_id", "key", "key_id", "api_key", "api_key_id"}


async def test_metrics_only_on_their_listener_and_without_tenant_labels(platform_stack, make_tenant) -> None:
    ports = {variable: free_port() for _, _, variable in _SERVICES}
    stack = platform_stack(**{variable: str(port) for variable, port in ports.items()})
    gateway = stack.start("gateway", "gateway", http=True)
    stack.env["REALTIME_GATEWAY_URL"] = str(gateway)
    for name, module, _ in _SERVICES[1:]:
        stack.start(name, module, http=True)
    tenant = await make_tenant(rate_limit_rpm=2, scopes=["chat", "billing:read", "analytics:read"])
    invented_model = f"no-such-model-{uuid.uuid4().hex[:8]}"
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}

    async with aiohttp.ClientSession(headers=tenant.auth) as http:
        statuses = []
        for body in (chat, {**chat, "stream": True}, {**chat, "model": invented_model}, chat, chat):
            async with http.post(f"{gateway}/v1/chat/completions", json=body) as resp:
                await resp.read()
                statuses.append(resp.status)
        # served, streamed, unknown model (not admitted), then the tenant's 2 requests a minute are used up
        assert statuses == [200, 200, 404, 429, 429], statuses
        kpis = "/v1/analytics/kpis?start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z"
        for url in (f"{stack.urls['billing']}/v1/billing/usage", f"{stack.urls['analytics']}{kpis}"):
            async with http.get(url) as resp:
                assert resp.status == 200, (url, await resp.text())

        for name, _, variable in _SERVICES:
            async with http.get(f"{stack.urls[name]}/metrics") as resp:
                assert resp.status == 404, name
                assert (await resp.json())["error"]["type"] == "not_found_error", name
            samples = await scrape_metrics(f"http://127.0.0.1:{ports[variable]}/metrics")
            assert samples, name
            for sample in samples:
                assert not _FORBIDDEN_LABELS & set(sample.labels), (name, sample)
                for value in sample.labels.values():
                    assert str(tenant.id) not in value and str(tenant.key_id) not in value, (name, sample)
                    assert invented_model not in value, (name, sample)

    gateway_samples = await scrape_metrics(f"http://127.0.0.1:{ports['GATEWAY_METRICS_PORT']}/metrics")
    served = {
        (s.labels["model"], s.labels["status"]): s.value for s in gateway_samples if s.name == "gateway_requests_total"
    }
    assert served == {("gpt-4o-mini", "success"): 2.0}
    rejected = [s for s in gateway_samples if s.name == "gateway_rate_limit_rejections_total"]
    assert [(s.labels, s.value) for s in rejected] == [({"limit": "tenant_requests"}, 2.0)]
