"""Keeping open sockets within their rules: the idle timeout, the tenant's connection slots, the realtime flag.

Each is one loop over this process's sockets (the registry), never a timer per socket.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from redis.exceptions import RedisError

from aiaas.flags import FlagClient
from realtime.connection.registry import ConnectionRegistry
from realtime.connection.repository import TenantConnectionLimit
from realtime.connection.schemas import CLOSE_DISABLED, CLOSE_IDLE
from realtime.connection.websocket import Connection

__all__ = ["enforce_realtime_flag", "idle_since", "idle_sweep", "refresh_slots", "sweep_interval"]

log = logging.getLogger(__name__)

_IDLE_REASON = "idle timeout: send ping at least every idle period"
_DISABLED_REASON = "realtime is disabled for this tenant"


def sweep_interval(idle_timeout_s: float) -> float:
    """How often the idle sweep runs: a quarter of the timeout, at least once a second."""
    return min(1.0, idle_timeout_s / 4)


def idle_since(conns: Iterable[Connection], cutoff: float) -> list[Connection]:
    """The sockets whose client sent nothing after `cutoff` (a `time.monotonic()` value)."""
    return [conn for conn in conns if conn.last_seen < cutoff]


async def idle_sweep(registry: ConnectionRegistry, idle_timeout_s: float) -> None:
    """Close sockets silent for `idle_timeout_s` with 4000 (one loop for all, instead of a timer per socket)."""
    every = sweep_interval(idle_timeout_s)
    while True:
        await asyncio.sleep(every)
        for conn in idle_since(registry.all(), time.monotonic() - idle_timeout_s):
            conn.request_close(CLOSE_IDLE, _IDLE_REASON)


async def refresh_slots(registry: ConnectionRegistry, limit: TenantConnectionLimit) -> None:
    """Keep this process's connection-limit entries alive (they expire if the process dies)."""
    while True:
        await asyncio.sleep(limit.ttl_s / 3)
        for tenant_id, connection_ids in registry.tenants():
            try:
                await limit.refresh(tenant_id, connection_ids)
            except RedisError as exc:
                log.warning("connection slots not refreshed", exc_info=exc)


async def enforce_realtime_flag(registry: ConnectionRegistry, flags: FlagClient, every_s: float = 0.2) -> None:
    """Close the sockets of tenants whose `realtime_enabled` flag went off (within `every_s` of the change)."""
    while True:
        await asyncio.sleep(every_s)
        for tenant_id, _ in registry.tenants():
            if not flags.is_enabled("realtime_enabled", tenant_id, default=True):
                for conn in registry.of_tenant(tenant_id):
                    conn.disable(CLOSE_DISABLED, _DISABLED_REASON)
