"""aiaas.health.readiness: required probes decide the status, degradable ones are listed, each is bounded."""

from __future__ import annotations

import asyncio

import orjson
from prometheus_client import REGISTRY

from aiaas import health


async def _ok() -> None:
    return None


async def _down() -> None:
    raise ConnectionError("refused")


async def _hang() -> None:
    await asyncio.sleep(60)


def _up(dependency: str, required: str) -> float | None:
    return REGISTRY.get_sample_value("health_dependency_up", {"dependency": dependency, "required": required})


async def test_a_degradable_probe_down_keeps_ready_and_is_listed() -> None:
    resp = await health.readiness({"db": _ok()}, degradable={"bus": _down(), "cache": _ok()}, reported={"x": "y"})
    assert resp.status_code == 200
    assert orjson.loads(resp.body) == {
        "status": "ok",
        "degraded": ["bus"],
        "checks": {"db": "ok", "bus": "down: ConnectionError", "cache": "ok", "x": "y"},
    }
    assert _up("bus", "false") == 0 and _up("db", "true") == 1 and _up("cache", "false") == 1


async def test_a_required_probe_down_or_hung_is_503(monkeypatch) -> None:
    monkeypatch.setattr(health, "PROBE_TIMEOUT_S", 0.05)
    resp = await health.readiness({"db": _hang()}, degradable={"bus": _ok()})
    assert resp.status_code == 503
    assert orjson.loads(resp.body) == {
        "status": "unavailable",
        "degraded": [],
        "checks": {"db": "down: TimeoutError", "bus": "ok"},
    }
    assert _up("db", "true") == 0
