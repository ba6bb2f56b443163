"""The dashboards, built from slo.yaml: one per service, the platform overview, per-tenant usage.

Prometheus series carry no tenant (the platform rule: aiaas.observability.metrics), so per-tenant usage
reads analytics' rollups (`analytics_usage_rollups`, one row per tenant, minute, model and key) through
Grafana's PostgreSQL datasource, with a role that may read across tenants (provisioning/datasources).
"""

from __future__ import annotations

from typing import Any

from .panels import POSTGRES, Layout, dashboard, stat, table, timeseries
from .slo import Service, Slo

__all__ = ["dashboards"]

# Each service's own series besides the HTTP ones (names as the code exports them).
_OWN: dict[str, list[tuple[str, list[tuple[str, str]], str]]] = {
    "gateway": [
        (
            "Chat requests by model and status",
            [("sum by (model, status) (rate(gateway_requests_total[5m]))", "{{model}} {{status}}")],
            "reqps",
        ),
        (
            "Time to first token p95",
            [("histogram_quantile(0.95, sum by (le, model) (rate(gateway_ttft_seconds_bucket[5m])))", "{{model}}")],
            "s",
        ),
        (
            "Upstream attempts by outcome",
            [
                (
                    "sum by (deployment, outcome) (rate(gateway_upstream_attempts_total[5m]))",
                    "{{deployment}} {{outcome}}",
                )
            ],
            "reqps",
        ),
        (
            "Rate-limit rejections",
            [("sum by (limit) (rate(gateway_rate_limit_rejections_total[5m]))", "{{limit}}")],
            "reqps",
        ),
        (
            "Circuit breakers (0 closed, 1 half-open, 2 open)",
            [('max by (key) (circuit_breaker_state{job=~"gateway.*"})', "{{key}}")],
            "short",
        ),
        ("Outbox rows waiting", [("sum by (job) (outbox_pending_rows)", "{{job}}")], "short"),
    ],
    "router": [
        (
            "Decision latency p99",
            [("histogram_quantile(0.99, sum by (le) (rate(router_decision_latency_ms_bucket[5m])))", "p99")],
            "ms",
        ),
        ("Decisions by tier", [("sum by (tier) (rate(router_tier_distribution_total[5m]))", "{{tier}}")], "reqps"),
        ("Fallbacks by cause", [("sum by (cause) (rate(router_fallbacks_total[5m]))", "{{cause}}")], "reqps"),
    ],
    "realtime": [
        ("Open WebSocket connections", [("sum(ws_active_connections)", "connections")], "short"),
        ("Server closes by code", [("sum by (code) (rate(ws_closes_total[5m]))", "{{code}}")], "short"),
        ("Replies by outcome", [("sum by (outcome) (rate(realtime_responses_total[5m]))", "{{outcome}}")], "short"),
    ],
    "orchestrator": [
        ("Runs by status", [("sum by (status) (rate(orch_runs_total[5m]))", "{{status}}")], "short"),
        ("Runs in flight", [("sum(orch_runs_in_flight)", "in flight")], "short"),
        (
            "Delivery time p95 by phase",
            [("histogram_quantile(0.95, sum by (le, phase) (rate(orch_delivery_seconds_bucket[5m])))", "{{phase}}")],
            "s",
        ),
    ],
    "ingestion": [
        ("Texts embedded", [("sum by (kind) (rate(ingestion_embedded_texts_total[5m]))", "{{kind}}")], "short"),
    ],
    "billing": [],
    "analytics": [],
    "control-plane": [
        ("Flag documents published", [("sum by (result) (rate(flags_published_total[5m]))", "{{result}}")], "short"),
    ],
}
# The durable consumers whose lag belongs on a service's dashboard (aiaas.events.topology).
_CONSUMERS = {
    "gateway": ["usage-writer"],
    "billing": ["billing-meter", "billing-stripe-sync"],
    "analytics": ["analytics-usage", "analytics-billing"],
    "router": ["router-decisions", "router-rewards"],
    "ingestion": ["ingestion-documents"],
    "orchestrator": ["orchestrator-runs"],
}


def _budget_left(record: str, service: str, target: float) -> str:
    return f'1 - avg_over_time({record}{{service="{service}"}}[30d]) / {1 - target:.6g}'


def _service(service: Service) -> dict[str, Any]:
    name = service.name
    sel = f'service="{name}"'
    layout = Layout()
    layout.add(
        stat(
            "Availability budget left (30d)",
            [(_budget_left("service:http_errors:ratio_rate1h", name, service.availability), "left")],
            "percentunit",
        ),
        6,
        5,
    )
    layout.add(
        stat(
            "Latency budget left (30d)",
            [(_budget_left("service:http_slow:ratio_rate1h", name, service.latency_target), "left")],
            "percentunit",
        ),
        6,
        5,
    )
    layout.add(stat("Requests per second", [(f"service:http_requests:rate5m{{{sel}}}", "rps")], "reqps"), 6, 5)
    layout.add(stat("Error ratio (5m)", [(f"service:http_errors:ratio_rate5m{{{sel}}}", "5xx")], "percentunit"), 6, 5)
    layout.add(
        timeseries(
            "Requests by route and status",
            [(f"sum by (route, status) (rate(http_requests_total{{{sel}}}[5m]))", "{{route}} {{status}}")],
            "reqps",
        )
    )
    layout.add(
        timeseries(
            "Latency by route (p50, p95, p99)",
            [
                (
                    f"histogram_quantile({q}, sum by (le, route) "
                    f"(rate(http_request_duration_seconds_bucket{{{sel}}}[5m])))",
                    f"p{int(q * 100)} {{{{route}}}}",
                )
                for q in (0.5, 0.95, 0.99)
            ],
            "s",
        )
    )
    layout.add(
        timeseries(
            "SLI: error and slow ratios",
            [
                (f"service:http_errors:ratio_rate5m{{{sel}}}", "5xx ratio"),
                (f"service:http_slow:ratio_rate5m{{{sel}}}", f"slower than {service.latency_threshold_s:g}s"),
            ],
            "percentunit",
        )
    )
    layout.add(
        timeseries(
            "Dependencies up (readiness probes)",
            [(f'min by (dependency) (health_dependency_up{{job=~"{name}.*"}})', "{{dependency}}")],
        )
    )
    consumers = "|".join(_CONSUMERS.get(name, []))
    if consumers:
        layout.add(
            timeseries(
                "Consumer lag (what KEDA scales on)",
                [(f'sum by (consumer) (jetstream_consumer_lag_messages{{consumer=~"{consumers}"}})', "{{consumer}}")],
            )
        )
        layout.add(
            timeseries(
                "Dead-lettered events",
                [
                    (
                        f'sum by (consumer) (increase(events_dead_lettered_total{{consumer=~"{consumers}"}}[10m]))',
                        "{{consumer}}",
                    )
                ],
            )
        )
    for title, queries, unit in _OWN.get(name, []):
        layout.add(timeseries(title, queries, unit))
    return dashboard(
        f"aiaas-{name}", f"aiaas / {name}", f"{name}: HTTP golden signals, SLIs, its own series", layout, [name]
    )


def _overview(slo: Slo) -> dict[str, Any]:
    layout = Layout()
    for service in slo.services:
        layout.add(
            stat(
                f"{service.name} budget left",
                [
                    (
                        _budget_left("service:http_errors:ratio_rate1h", service.name, service.availability),
                        "availability",
                    ),
                    (_budget_left("service:http_slow:ratio_rate1h", service.name, service.latency_target), "latency"),
                ],
                "percentunit",
            ),
            6,
            4,
        )
    layout.add(
        timeseries(
            "Traffic: requests per second by service", [("service:http_requests:rate5m", "{{service}}")], "reqps"
        ),
        8,
    )
    layout.add(
        timeseries(
            "Errors: 5xx ratio by service", [("service:http_errors:ratio_rate5m", "{{service}}")], "percentunit"
        ),
        8,
    )
    layout.add(
        timeseries(
            "Latency: p99 by service",
            [
                (
                    "histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket[5m])))",
                    "{{service}}",
                )
            ],
            "s",
        ),
        8,
    )
    layout.add(
        timeseries(
            "Saturation: WebSockets, runs in flight, outbox",
            [
                ("sum(ws_active_connections)", "WebSocket connections"),
                ("sum(orch_runs_in_flight)", "runs in flight"),
                ("sum(outbox_pending_rows)", "outbox rows"),
            ],
        ),
        8,
    )
    layout.add(
        timeseries(
            "KEDA: consumer lag",
            [("sum by (stream, consumer) (jetstream_consumer_lag_messages)", "{{stream}}/{{consumer}}")],
        ),
        8,
    )
    layout.add(timeseries("KEDA: replicas up per process", [("count by (job) (up == 1)", "{{job}}")]), 8)
    layout.add(timeseries("Targets down", [("count by (job) (up == 0)", "{{job}}")]), 8)
    layout.add(timeseries("Breakers not closed", [("count by (job) (circuit_breaker_state > 0)", "{{job}}")]), 8)
    layout.add(
        timeseries(
            "Dead-lettered events (10m)",
            [("sum by (stream, consumer) (increase(events_dead_lettered_total[10m]))", "{{stream}}/{{consumer}}")],
        ),
        8,
    )
    return dashboard(
        "aiaas-overview",
        "aiaas / platform overview",
        "Golden signals, SLO budget left, KEDA lag against replicas",
        layout,
        ["overview"],
    )


_ROLLUPS = (
    "from analytics_usage_rollups where granularity = 'minute' and tenant_id = '$tenant' and $__timeFilter(bucket)"
)


def _tenant() -> dict[str, Any]:
    variable = {
        "type": "query",
        "name": "tenant",
        "label": "Tenant",
        "datasource": POSTGRES,
        "query": "select slug as __text, id::text as __value from tenants order by slug",
        "refresh": 1,
        "multi": False,
        "includeAll": False,
    }
    layout = Layout()
    per_minute = "select $__timeGroupAlias(bucket, '5m'), {cols} " + _ROLLUPS + " group by 1 order by 1"
    layout.add(
        timeseries(
            "Requests",
            [(per_minute.format(cols="sum(requests) as requests, sum(errored) as errored"), "")],
            "short",
            POSTGRES,
        )
    )
    layout.add(
        timeseries(
            "Tokens",
            [(per_minute.format(cols="sum(tokens_in) as tokens_in, sum(tokens_out) as tokens_out"), "")],
            "short",
            POSTGRES,
        )
    )
    layout.add(
        timeseries("Cost (USD)", [(per_minute.format(cols="sum(cost_usd) as cost_usd"), "")], "currencyUSD", POSTGRES)
    )
    layout.add(
        timeseries(
            "Error ratio",
            [(per_minute.format(cols="sum(errored)::float8 / nullif(sum(requests), 0) as error_ratio"), "")],
            "percentunit",
            POSTGRES,
        )
    )
    layout.add(
        table(
            "By model",
            "select model_alias, sum(requests) as requests, sum(errored) as errored, sum(tokens_in) as tokens_in, "
            "sum(tokens_out) as tokens_out, sum(cost_usd) as cost_usd "
            + _ROLLUPS
            + " group by model_alias order by cost_usd desc",
        ),
        24,
    )
    return dashboard(
        "aiaas-tenant-usage",
        "aiaas / tenant usage",
        "One tenant's requests, tokens, cost and errors (analytics rollups)",
        layout,
        ["tenant"],
        [variable],
    )


def dashboards(slo: Slo) -> dict[str, dict[str, Any]]:
    """File name under grafana/dashboards/ -> dashboard JSON."""
    out = {f"{s.name}.json": _service(s) for s in slo.services}
    out["overview.json"] = _overview(slo)
    out["tenant-usage.json"] = _tenant()
    return out
