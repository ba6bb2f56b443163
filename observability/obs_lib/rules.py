"""Prometheus rule groups built from slo.yaml: SLI recording rules, burn-rate alerts, the platform alerts.

Recording rules, per `service` label and window w of slo.yaml:
  service:http_requests:rate<w>       requests per second
  service:http_errors:ratio_rate<w>   share answered 5xx (0 when none failed, absent without traffic)
  service:http_slow:ratio_rate<w>     share slower than the service's latency threshold (a histogram bucket)
Burn-rate alerts compare a ratio with factor x budget (budget = 1 - target) over a long and a short window
at once: the long one says the budget really burns, the short one that it still burns now.
"""

from __future__ import annotations

from typing import Any

from prometheus_client.utils import floatToGoString

from .slo import Alert, Service, Slo

__all__ = ["DASHBOARD_UIDS", "rule_files", "runbook_url"]

REQUESTS = "service:http_requests:rate{w}"
ERRORS = "service:http_errors:ratio_rate{w}"
SLOW = "service:http_slow:ratio_rate{w}"
# Where an alert's dashboard annotation points (Grafana's /d/<uid>; dashboards.py builds these uids).
DASHBOARD_UIDS = {"overview": "aiaas-overview"}


def runbook_url(slo: Slo, alert: str) -> str:
    return f"{slo.runbook_base_url}/{alert}.md"


def _num(value: float) -> str:
    return f"{value:.6g}"


def _recording(slo: Slo) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for w in slo.windows:
        total = f"sum by (service) (rate(http_requests_total[{w}]))"
        errors = f'sum by (service) (rate(http_requests_total{{status=~"5.."}}[{w}]))'
        rules.append({"record": REQUESTS.format(w=w), "expr": total})
        rules.append({"record": ERRORS.format(w=w), "expr": f"({errors} or {total} * 0) / {total}"})
    for service in slo.services:
        le = floatToGoString(service.latency_threshold_s)
        sel = f'service="{service.name}"'
        for w in slo.windows:
            fast = f'sum by (service) (rate(http_request_duration_seconds_bucket{{{sel},le="{le}"}}[{w}]))'
            count = f"sum by (service) (rate(http_request_duration_seconds_count{{{sel}}}[{w}]))"
            # The static label keeps one rule per service distinct (promtool's duplicate-rule lint).
            rules.append(
                {"record": SLOW.format(w=w), "expr": f"1 - {fast} / {count}", "labels": {"service": service.name}}
            )
    return {"name": "slo-sli", "interval": "30s", "rules": rules}


def _burn_alerts(slo: Slo, service: Service) -> list[dict[str, Any]]:
    alerts = []
    objectives = (
        ("AvailabilityBudgetBurn", ERRORS, service.availability, "answered 5xx"),
        ("LatencyBudgetBurn", SLOW, service.latency_target, f"slower than {service.latency_threshold_s:g}s"),
    )
    for name, record, target, what in objectives:
        budget = 1 - target
        for severity, (for_, pairs) in slo.burn.items():
            sel = f'{{service="{service.name}"}}'
            clauses = [
                f"({record.format(w=p.long)}{sel} > {_num(p.factor * budget)}"
                f" and {record.format(w=p.short)}{sel} > {_num(p.factor * budget)})"
                for p in pairs
            ]
            burns = " or ".join(f"{p.factor:g}x over {p.long} and {p.short}" for p in pairs)
            alerts.append(
                {
                    "alert": name,
                    "expr": " or ".join(clauses),
                    "for": for_,
                    "labels": {
                        "severity": severity,
                        "slo": name.removesuffix("BudgetBurn").lower(),
                        "service": service.name,
                    },
                    "annotations": {
                        "summary": f"{service.name} burns its {target:.4g} {name.removesuffix('BudgetBurn').lower()}"
                        f" error budget: requests {what} at {burns} the budget rate",
                        "runbook_url": runbook_url(slo, name),
                        "dashboard": f"/d/aiaas-{service.name}",
                    },
                }
            )
    return alerts


def _platform_alert(slo: Slo, alert: Alert) -> dict[str, Any]:
    return {
        "alert": alert.name,
        "expr": alert.expr,
        "for": alert.for_,
        "labels": {"severity": alert.severity},
        "annotations": {
            "summary": alert.summary,
            "runbook_url": runbook_url(slo, alert.name),
            "dashboard": f"/d/{DASHBOARD_UIDS['overview']}",
        },
    }


def rule_files(slo: Slo) -> dict[str, dict[str, Any]]:
    """File name under prometheus/rules/ -> its rule-file document."""
    burn = [rule for service in slo.services for rule in _burn_alerts(slo, service)]
    return {
        "slo.rules.yml": {"groups": [_recording(slo), {"name": "slo-burn", "rules": burn}]},
        "platform.rules.yml": {
            "groups": [{"name": "platform", "rules": [_platform_alert(slo, a) for a in slo.alerts]}]
        },
    }
