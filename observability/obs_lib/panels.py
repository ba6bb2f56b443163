"""Grafana panel and dashboard JSON in the classic shape file provisioning loads (schemaVersion 42).

Written to the grafana-foundation-sdk schemas in ../shared/k8s-schemas/grafana/ (check.py validates):
every required option set, no key they do not know.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROMETHEUS", "POSTGRES", "Layout", "dashboard", "stat", "table", "timeseries"]

PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
POSTGRES = {"type": "grafana-postgresql-datasource", "uid": "analytics-postgres"}
_LEGEND = {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []}


def _targets(queries: list[tuple[str, str]], datasource: dict[str, str]) -> list[dict[str, Any]]:
    if datasource is POSTGRES:
        return [
            {"refId": chr(65 + i), "datasource": datasource, "format": "time_series", "rawQuery": True, "rawSql": q}
            for i, (q, _legend) in enumerate(queries)
        ]
    return [
        {"refId": chr(65 + i), "datasource": datasource, "expr": q, "legendFormat": legend}
        for i, (q, legend) in enumerate(queries)
    ]


def _field_config(unit: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"defaults": {"unit": unit, **(extra or {})}, "overrides": []}


def timeseries(
    title: str, queries: list[tuple[str, str]], unit: str = "short", datasource: dict[str, str] = PROMETHEUS
) -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "datasource": datasource,
        "targets": _targets(queries, datasource),
        "options": {"legend": _LEGEND, "tooltip": {"mode": "multi", "sort": "desc"}},
        "fieldConfig": _field_config(unit),
    }


def stat(
    title: str, queries: list[tuple[str, str]], unit: str = "short", datasource: dict[str, str] = PROMETHEUS
) -> dict[str, Any]:
    return {
        "type": "stat",
        "title": title,
        "datasource": datasource,
        "targets": _targets(queries, datasource),
        "options": {
            "graphMode": "none",
            "colorMode": "value",
            "justifyMode": "auto",
            "textMode": "value_and_name",
            "wideLayout": True,
            "showPercentChange": False,
            "reduceOptions": {"calcs": ["lastNotNull"]},
            "percentChangeColorMode": "standard",
            "orientation": "auto",
        },
        "fieldConfig": _field_config(unit),
    }


def table(title: str, sql: str) -> dict[str, Any]:
    return {
        "type": "table",
        "title": title,
        "datasource": POSTGRES,
        "targets": [{"refId": "A", "datasource": POSTGRES, "format": "table", "rawQuery": True, "rawSql": sql}],
        "options": {"frameIndex": 0, "showHeader": True},
        "fieldConfig": _field_config("short"),
    }


class Layout:
    """Places panels left to right in rows of 24 columns, `height` high; ids 1, 2, ... in order."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self._x = 0
        self._y = 0
        self._row_h = 0

    def add(self, panel: dict[str, Any], width: int = 12, height: int = 8) -> None:
        if self._x + width > 24:
            self._x, self._y, self._row_h = 0, self._y + self._row_h, 0
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"h": height, "w": width, "x": self._x, "y": self._y}
        self.panels.append(panel)
        self._x += width
        self._row_h = max(self._row_h, height)


def dashboard(
    uid: str,
    title: str,
    description: str,
    layout: Layout,
    tags: list[str],
    variables: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["aiaas", *tags],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "schemaVersion": 42,
        "version": 1,
        "panels": layout.panels,
        "templating": {"list": variables or []},
        "annotations": {"list": []},
        "links": [],
    }
