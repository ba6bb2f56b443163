"""One request = one trace: gateway server span -> provider call -> NATS publish -> consumer."""

from __future__ import annotations

import asyncio
import uuid

import nats
import openai
import uvicorn
from opentelemetry.trace import SpanKind

from aiaas.events import ConsumerRunner, ensure_topology
from aiaas.events.topology import ConsumerSpec, ensure_consumer
from aiaas.observability.tracing import get_memory_exporter, setup_tracing
from aiaas_testing import free_port
from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.usage.consumers import write_usage


async def test_request_trace_spans_http_provider_and_nats(
    infra_urls, models_file, sim_url, make_tenant, runtime_sessions
):
    setup_tracing("gateway-test", "memory")
    exporter = get_memory_exporter()
    exporter.clear()
    settings = GatewaySettings(
        database_url=infra_urls.database_url,
        nats_url=infra_urls.nats_url,
        redis_url=infra_urls.redis_url,
        models_file=models_file,
        provider_sim_url=sim_url,
        tracing=True,
        otel_exporter="memory",
        log_json=False,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    tenant = await make_tenant()
    nc = await nats.connect(infra_urls.nats_url)
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=tenant.api_key, max_retries=0)
        raw = await client.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": "trace me"}]
        )
        request_id = raw.headers["x-request-id"]

        js = nc.jetstream()
        spec = ConsumerSpec("USAGE", f"trace-{uuid.uuid4().hex[:8]}", f"usage.recorded.{tenant.id}")
        await ensure_topology(js, consumers=())
        await ensure_consumer(js, spec)
        seen: list[str] = []

        async def handle(batch):
            await write_usage(runtime_sessions, batch)
            seen.extend(item.event.data["request_id"] for item in batch)

        runner = ConsumerRunner(js, spec, handle)
        sub = await js.pull_subscribe_bind(durable=spec.durable, stream=spec.stream)
        for _ in range(50):
            try:
                msgs = await sub.fetch(10, timeout=0.5)
            except nats.errors.TimeoutError:
                continue
            await runner.process(msgs)
            if request_id in seen:
                break
        assert request_id in seen
        await js.delete_consumer(spec.stream, spec.durable)
    finally:
        await nc.close()
        server.should_exit = True
        await serving

    spans = exporter.get_finished_spans()
    server_spans = [s for s in spans if s.kind == SpanKind.SERVER and "chat/completions" in s.name]
    assert server_spans, [s.name for s in spans]
    trace_id = server_spans[0].context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    kinds = {(s.kind, s.name) for s in in_trace}
    assert (SpanKind.CLIENT, "chat openai") in kinds
    assert (SpanKind.PRODUCER, "publish usage.recorded") in kinds
    assert (SpanKind.CONSUMER, "process usage.recorded") in kinds
    consumer = next(s for s in in_trace if s.kind == SpanKind.CONSUMER)
    producer = next(s for s in in_trace if s.kind == SpanKind.PRODUCER)
    assert consumer.parent.span_id == producer.context.span_id
