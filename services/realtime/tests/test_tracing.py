"""One trace from a socket message to the gateway's provider call (realtime and gateway in this process).

Both apps run in-process, as in the gateway's tracing test, so one in-memory exporter collects every
span; the trace crosses a real HTTP hop, joined by the `traceparent` the realtime service sends.
"""

from __future__ import annotations

import asyncio
import time

import uvicorn
from opentelemetry.trace import SpanKind

from aiaas.observability.tracing import get_memory_exporter, setup_tracing
from aiaas_testing import free_port
from aiaas_testing.realtime import open_ws, recv_until, send
from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from realtime.app import create_app as create_realtime
from realtime.config import RealtimeSettings


async def _serve(app, **options) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on", **options))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "server did not start"
        await asyncio.sleep(0.05)
    return server, task, port


async def test_socket_message_to_provider_span_is_one_trace(infra_urls, gateway_env, sim_url, make_tenant) -> None:
    setup_tracing("realtime-test", "memory")
    exporter = get_memory_exporter()
    exporter.clear()
    common = {
        "database_url": infra_urls.database_url,
        "nats_url": infra_urls.nats_url,
        "redis_url": infra_urls.redis_url,
        "tracing": True,
        "otel_exporter": "memory",
        "log_json": False,
    }
    gateway = GatewaySettings(models_file=gateway_env["GATEWAY_MODELS_FILE"], provider_sim_url=sim_url, **common)
    gw_server, gw_task, gw_port = await _serve(create_gateway(gateway))
    realtime = RealtimeSettings(gateway_url=f"http://127.0.0.1:{gw_port}", **common)
    rt_server, rt_task, rt_port = await _serve(create_realtime(realtime), ws="websockets-sansio")
    tenant = await make_tenant()
    try:
        async with open_ws(f"ws://127.0.0.1:{rt_port}/v1/realtime/ws", tenant.api_key) as ws:
            await send(ws, type="message.create", content="trace me", model="chat", client_msg_id="t-1")
            events, _ = await recv_until(ws, ("response.completed", "error"))
        assert events[-1]["type"] == "response.completed", events[-1]
        deltas = sum(e["type"] == "response.delta" for e in events)

        def finished():
            spans = exporter.get_finished_spans()
            received = [s for s in spans if s.name == "ws receive message.create"]
            if not received:
                return None
            trace_id = received[0].context.trace_id
            in_trace = [s for s in spans if s.context.trace_id == trace_id]
            gateway_server = [s for s in in_trace if s.kind == SpanKind.SERVER and "chat/completions" in s.name]
            return (
                (received[0], in_trace)
                if gateway_server and any(s.name == "realtime reply" for s in in_trace)
                else None
            )

        deadline = time.monotonic() + 10
        while (found := finished()) is None:
            assert time.monotonic() < deadline, [s.name for s in exporter.get_finished_spans()]
            await asyncio.sleep(0.1)
    finally:
        rt_server.should_exit = True
        await rt_task
        gw_server.should_exit = True
        await gw_task

    received, in_trace = found
    by_name = {s.name: s for s in in_trace}
    reply = by_name["realtime reply"]
    call = next(s for s in in_trace if s.kind == SpanKind.CLIENT and s.name == "POST /v1/chat/completions")
    served = next(s for s in in_trace if s.kind == SpanKind.SERVER and "chat/completions" in s.name)
    provider = next(s for s in in_trace if (s.kind, s.name) == (SpanKind.CLIENT, "chat openai"))
    # socket receive -> reply -> gateway call -> (HTTP, traceparent) gateway server span -> ... -> provider call
    assert received.kind == SpanKind.SERVER
    assert reply.parent.span_id == received.context.span_id
    assert call.parent.span_id == reply.context.span_id
    assert served.parent.span_id == call.context.span_id
    assert served.parent.is_remote
    assert provider.start_time >= served.start_time
    assert call.attributes["http.response.status_code"] == 200
    assert reply.attributes["realtime.deltas"] == deltas > 0
    assert reply.attributes["realtime.last_seq"] == events[-1]["seq"]
    assert [e.name for e in reply.events] == ["first delta"]
