"""Tenant notices over NATS reach that tenant's sockets on every instance, and no one else's."""

from __future__ import annotations

import orjson

from aiaas_testing.realtime import open_ws, recv, send


async def test_notice_reaches_only_the_tenants_sockets(rt_a, rt_b, make_tenant, nats_client) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    async with (
        open_ws(rt_a.ws, tenant.api_key) as on_a,
        open_ws(rt_b.ws, tenant.api_key) as on_b,
        open_ws(rt_a.ws, other.api_key) as bystander,
    ):
        for ws in (on_a, on_b, bystander):  # the sockets are registered once they answer
            await send(ws, type="ping")
            assert (await recv(ws))["type"] == "pong"
        await nats_client.publish(
            f"realtime.broadcast.{tenant.id}", orjson.dumps({"message": "Maintenance at 22:00 UTC"})
        )
        await nats_client.publish(f"realtime.broadcast.{tenant.id}", b"plain text notice")
        await nats_client.publish("realtime.broadcast.not-a-tenant", b"ignored")
        await nats_client.flush()
        for ws in (on_a, on_b):
            assert await recv(ws) == {"v": 1, "type": "notice", "message": "Maintenance at 22:00 UTC"}
            assert await recv(ws) == {"v": 1, "type": "notice", "message": "plain text notice"}
        # The other tenant got nothing: its next event is the answer to its ping.
        await send(bystander, type="ping")
        assert await recv(bystander) == {"v": 1, "type": "pong"}
