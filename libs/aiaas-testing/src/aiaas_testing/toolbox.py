"""The toolbox for tests of the tool adapter and the orchestrator: a real process, its control API, tool manifests.

`start_toolbox` runs `python -m toolbox` on a free port. `ToolboxControl` drives the control API for one tenant
(fault rules, request stats, effect counts: every attempt an adapter sends counts as one request).
`ManualClock` is time.monotonic() plus a skew a test adds to (a breaker's cool-down passes without waiting).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from aiaas.tools import ToolLimits, ToolManifest
from aiaas_testing.processes import ServiceProcess
from aiaas_testing.servers import free_port

__all__ = ["CHARGE_ARGS", "ManualClock", "ToolboxControl", "charge", "orders_get", "start_toolbox"]

CHARGE_ARGS = {"order_id": "ORD-1001", "amount_minor": 5198, "currency": "usd"}


def orders_get(**limits: Any) -> ToolManifest:
    return ToolManifest(
        name="orders.get", dependency="toolbox", path="/v1/orders/{order_id}", limits=ToolLimits(**limits)
    )


def charge(**limits: Any) -> ToolManifest:
    return ToolManifest(
        name="payments.charge",
        dependency="toolbox",
        method="POST",
        path="/v1/payments/charges",
        side_effect=True,
        limits=ToolLimits(**limits),
    )


def start_toolbox(log_dir: Path, **env: str) -> tuple[ServiceProcess, str]:
    """A started toolbox process (stall faults of 3 s, no metrics listener unless `env` says) and its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        ["-m", "toolbox", "--host", "127.0.0.1", "--port", str(port)],
        env={"TOOLBOX_STALL_S": "3", "TOOLBOX_METRICS_PORT": "0", **env},
        log_path=log_dir / "toolbox.log",
        ready_url=f"{url}/health/ready",
    ).start(timeout_s=20)
    return process, url


@dataclass
class ToolboxControl:
    """The toolbox's control API for one tenant (tests only)."""

    http: aiohttp.ClientSession
    url: str
    tenant: str

    async def add_fault(self, **rule: Any) -> None:
        async with self.http.post(f"{self.url}/control/faults", json={"tenant": self.tenant, **rule}) as response:
            assert response.status == 201, await response.text()

    async def clear_faults(self) -> None:
        async with self.http.delete(f"{self.url}/control/faults", params={"tenant": self.tenant}) as response:
            assert response.status == 200, await response.text()

    async def stats(self, operation: str) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/control/stats", params={"tenant": self.tenant}) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        empty = {"requests": 0, "in_flight": 0, "max_in_flight": 0, "outcomes": {}}
        stats: dict[str, Any] = body["operations"].get(operation, empty)
        return stats

    async def requests(self, operation: str) -> int:
        return int((await self.stats(operation))["requests"])

    async def effects(self, operation: str, key: str | None) -> int:
        params = {"tenant": self.tenant, "operation": operation}
        async with self.http.get(f"{self.url}/control/effects", params=params) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        return sum(row["effects"] for row in body["keys"] if row["key"] == key)


@dataclass
class ManualClock:
    """time.monotonic() plus a skew the test adds to: the breaker's cool-down passes without waiting."""

    skew: float = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skew
