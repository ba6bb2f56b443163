"""Checks of the Grafana dashboards: the foundation-sdk schemas, unique uids and panel ids, no overlapping
panels, every PromQL expression parsed by promtool and reading a metric that exists."""

from __future__ import annotations

import json
import re
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

from .findings import Finding, run_tool
from .metric_names import metrics_in

__all__ = ["check_dashboards", "load_dashboards", "prometheus_targets"]

_OPTION_SCHEMAS = {"timeseries": "timeseries", "stat": "stat", "table": "table"}
_GRAFANA_VARS = re.compile(r"\$(__rate_interval|__interval|__range)\b|\$\{__(rate_interval|interval|range)\}")
_USER_VARS = re.compile(r"\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?")
_PROMTOOL_ERROR = re.compile(r'rule (\d+), "([^"]+)": (.*)$')


@cache
def _validator(schema_dir: Path, name: str, definition: str | None = None) -> Draft7Validator:
    schema = json.loads((schema_dir / f"{name}.jsonschema.json").read_text())
    if definition is not None:
        schema = {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
    return Draft7Validator(schema)


def load_dashboards(root: Path) -> tuple[dict[str, dict[str, Any]], list[Finding]]:
    out, findings = {}, []
    for path in sorted((root / "grafana" / "dashboards").glob("*.json")):
        try:
            out[path.name] = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            findings.append(Finding("dashboard-schema", f"{path.name}: not JSON: {exc}"))
    return out, findings


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard.get("panels") or []:
        panels.append(panel)
        panels.extend(panel.get("panels") or [])  # a row's collapsed panels
    return panels


def prometheus_targets(panel: dict[str, Any]) -> list[dict[str, Any]]:
    panel_type = (panel.get("datasource") or {}).get("type")
    return [
        t for t in panel.get("targets") or [] if ((t.get("datasource") or {}).get("type") or panel_type) == "prometheus"
    ]


def _schema(name: str, dashboard: dict[str, Any], schema_dir: Path) -> list[Finding]:
    def where(error: Any) -> str:
        return "/".join(str(p) for p in error.absolute_path) or "(top)"

    findings = [
        Finding("dashboard-schema", f"{name}: {where(e)}: {e.message}")
        for e in _validator(schema_dir, "dashboard").iter_errors(dashboard)
    ]
    target_schema = _validator(schema_dir, "prometheus")
    for panel in _panels(dashboard):
        title = panel.get("title", panel.get("id"))
        kind = panel.get("type")
        if kind in _OPTION_SCHEMAS:
            options = _validator(schema_dir, _OPTION_SCHEMAS[kind], "Options")
            for e in options.iter_errors(panel.get("options", {})):
                findings.append(Finding("dashboard-schema", f"{name}: panel {title!r} options/{where(e)}: {e.message}"))
        elif kind != "row":
            findings.append(Finding("dashboard-schema", f"{name}: panel {title!r} type {kind!r} has no schema here"))
        for target in prometheus_targets(panel):
            for e in target_schema.iter_errors(target):
                findings.append(Finding("dashboard-schema", f"{name}: panel {title!r} target {where(e)}: {e.message}"))
    return findings


def _layout(name: str, dashboard: dict[str, Any]) -> list[Finding]:
    findings, seen, placed = [], {}, []
    for panel in _panels(dashboard):
        pid, title = panel.get("id"), panel.get("title", "")
        if pid in seen:
            findings.append(Finding("panel-id", f"{name}: panel id {pid} used by {seen[pid]!r} and {title!r}"))
        seen[pid] = title
        pos = panel.get("gridPos")
        if not isinstance(pos, dict) or not all(isinstance(pos.get(k), int) for k in "hwxy"):
            continue
        for other_title, other in placed:
            if (
                pos["x"] < other["x"] + other["w"]
                and other["x"] < pos["x"] + pos["w"]
                and pos["y"] < other["y"] + other["h"]
                and other["y"] < pos["y"] + pos["h"]
            ):
                findings.append(Finding("panel-overlap", f"{name}: panel {title!r} overlaps {other_title!r}"))
        placed.append((title, pos))
    return findings


def _promql(dashboards: dict[str, dict[str, Any]], promtool: Path, known: set[str]) -> list[Finding]:
    """All expressions as recording rules of one temporary file, parsed by one promtool run."""
    findings, rules, where = [], [], {}
    for name, dashboard in dashboards.items():
        for panel in _panels(dashboard):
            for target in prometheus_targets(panel):
                expr = _USER_VARS.sub("placeholder", _GRAFANA_VARS.sub("5m", str(target.get("expr", ""))))
                record = f"panel:q{len(rules) + 1}"
                rules.append({"record": record, "expr": expr})
                label = f"{name}: panel {panel.get('title', panel.get('id'))!r}"
                where[record] = label
                for metric in sorted(metrics_in(expr) - known):
                    findings.append(
                        Finding("unknown-metric", f"{label} reads {metric}, which no process exports or rule records")
                    )
    if not rules:
        return findings
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "panels.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}, width=10_000))
        code, out = run_tool([promtool, "check", "rules", "--lint=none", path], Path(tmp))
    for line in out.splitlines():
        match = _PROMTOOL_ERROR.search(line)
        if match:
            findings.append(Finding("panel-promql", f"{where.get(match.group(2), match.group(2))}: {match.group(3)}"))
    if code != 0 and not any(f.rule == "panel-promql" for f in findings):
        findings.append(Finding("panel-promql", out.strip()[-300:]))
    return findings


def check_dashboards(root: Path, schema_dir: Path, promtool: Path, known: set[str]) -> list[Finding]:
    dashboards, findings = load_dashboards(root)
    uids: dict[str, str] = {}
    for name, dashboard in dashboards.items():
        findings += _schema(name, dashboard, schema_dir)
        findings += _layout(name, dashboard)
        uid = dashboard.get("uid")
        if uid in uids:
            findings.append(Finding("dashboard-uid", f"{name}: uid {uid!r} is also {uids[uid]}'s"))
        uids.setdefault(str(uid), name)
    return findings + _promql(dashboards, promtool, known)
