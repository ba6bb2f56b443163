"""observability/slo.yaml, read and checked once: the services' targets, windows, burn rates, extra alerts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Alert", "BurnPair", "Service", "Slo", "SloError", "load_slo"]


class SloError(ValueError):
    """slo.yaml is malformed; the message names the field."""


@dataclass(frozen=True)
class Service:
    name: str
    availability: float
    latency_threshold_s: float
    latency_target: float


@dataclass(frozen=True)
class BurnPair:
    long: str
    short: str
    factor: float


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    expr: str
    for_: str
    summary: str


@dataclass(frozen=True)
class Slo:
    services: tuple[Service, ...]
    windows: tuple[str, ...]
    burn: dict[str, tuple[str, tuple[BurnPair, ...]]]  # severity -> (for, pairs)
    alerts: tuple[Alert, ...]
    runbook_base_url: str


def _target(value: Any, where: str) -> float:
    if not isinstance(value, int | float) or not 0 < value < 1:
        raise SloError(f"{where}: a target is a number strictly between 0 and 1, got {value!r}")
    return float(value)


def load_slo(path: Path) -> Slo:
    doc = yaml.safe_load(path.read_text())
    try:
        services = tuple(
            Service(
                name=name,
                availability=_target(spec["availability"], f"services.{name}.availability"),
                latency_threshold_s=float(spec["latency"]["threshold_seconds"]),
                latency_target=_target(spec["latency"]["target"], f"services.{name}.latency.target"),
            )
            for name, spec in doc["services"].items()
        )
        windows = tuple(doc["windows"])
        burn = {
            severity: (
                str(spec["for"]),
                tuple(BurnPair(p["long"], p["short"], float(p["factor"])) for p in spec["pairs"]),
            )
            for severity, spec in doc["burn_rates"].items()
        }
        alerts = tuple(
            Alert(a["name"], a["severity"], a["expr"], str(a["for"]), a["summary"]) for a in doc.get("alerts") or []
        )
        base = str(doc["runbook_base_url"]).rstrip("/")
    except (KeyError, TypeError) as exc:
        raise SloError(f"{path.name}: missing or malformed field {exc}") from exc
    for _, pairs in burn.values():
        for pair in pairs:
            if pair.long not in windows or pair.short not in windows:
                raise SloError(f"burn window {pair.long}/{pair.short} is not one of windows {list(windows)}")
    return Slo(services, windows, burn, alerts, base)
