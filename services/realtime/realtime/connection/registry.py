"""The sockets open in this process, by tenant (for fan-out and limit refreshes)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from realtime.connection.websocket import Connection

__all__ = ["ConnectionRegistry"]


class ConnectionRegistry:
    def __init__(self) -> None:
        self._by_tenant: dict[uuid.UUID, dict[str, Connection]] = defaultdict(dict)

    def add(self, conn: Connection) -> None:
        self._by_tenant[conn.tenant_id][conn.id] = conn

    def remove(self, conn: Connection) -> None:
        conns = self._by_tenant.get(conn.tenant_id)
        if conns is not None:
            conns.pop(conn.id, None)
            if not conns:
                del self._by_tenant[conn.tenant_id]

    def of_tenant(self, tenant_id: uuid.UUID) -> list[Connection]:
        return list(self._by_tenant.get(tenant_id, {}).values())

    def all(self) -> Iterator[Connection]:
        for conns in list(self._by_tenant.values()):
            yield from list(conns.values())

    def tenants(self) -> Iterator[tuple[uuid.UUID, list[str]]]:
        for tenant_id, conns in list(self._by_tenant.items()):
            yield tenant_id, list(conns)
