"""JSON logs carry trace ids, trace context crosses message headers, FastAPI spans, the metrics listener."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import orjson
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import Counter

from aiaas.errors import install_error_handlers
from aiaas.observability import (
    BREAKER_STATE,
    configure_logging,
    current_trace_ids,
    extract_trace_context,
    get_memory_exporter,
    inject_trace_headers,
    instrument_fastapi,
    record_breaker_state,
    setup_tracing,
)
from aiaas.resilience import BreakerConfig, BreakerRegistry, BreakerState
from aiaas.service_app import service_app
from aiaas.settings import ServiceSettings
from aiaas_testing import free_port

_TEST_REQUESTS = Counter("aiaas_observability_test_requests_total", "Test-only counter", ["route"])


@pytest.fixture(scope="module")
def memory_exporter():
    provider = setup_tracing("aiaas-observability-test", "memory")
    assert isinstance(provider, TracerProvider)
    assert trace.get_tracer_provider() is provider
    return get_memory_exporter()


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    root = logging.getLogger()
    before_handlers, before_level = list(root.handlers), root.level
    configure_logging("svc-test", "DEBUG", stream=stream)
    yield stream
    for handler in list(root.handlers):
        if handler not in before_handlers:
            root.removeHandler(handler)
    root.setLevel(before_level)


def _lines(stream: io.StringIO) -> list[dict]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_log_line_carries_the_current_span_ids(memory_exporter, log_stream):
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        logging.getLogger("aiaas.test").info("charged %s tokens", 42, extra={"tenant_id": "t-1"})
        ctx = span.get_span_context()
    [line] = _lines(log_stream)
    assert line["msg"] == "charged 42 tokens"
    assert line["level"] == "INFO"
    assert line["service"] == "svc-test"
    assert line["logger"] == "aiaas.test"
    assert line["tenant_id"] == "t-1"
    assert line["trace_id"] == format(ctx.trace_id, "032x")
    assert line["span_id"] == format(ctx.span_id, "016x")
    assert line["ts"].endswith("+00:00")


def test_log_line_outside_a_span_has_null_ids_and_exception_text(log_stream):
    try:
        raise ValueError("bad thing")
    except ValueError:
        logging.getLogger("aiaas.test").exception("failed")
    [line] = _lines(log_stream)
    assert (line["trace_id"], line["span_id"]) == (None, None)
    assert line["level"] == "ERROR"
    assert "Traceback" in line["exc"] and "ValueError: bad thing" in line["exc"]


def test_log_line_survives_lone_surrogates_and_odd_extras(log_stream):
    logging.getLogger("aiaas.test").warning("input \ud800 seen", extra={"obj": object(), "raw": b"\xff"})
    [line] = _lines(log_stream)
    assert line["msg"] == "input \\ud800 seen"
    assert line["obj"].startswith("<object object")
    assert line["raw"] == "b'\\xff'"


def test_configure_logging_is_idempotent(log_stream):
    root = logging.getLogger()
    configure_logging("svc-test", "INFO", stream=log_stream)
    configure_logging("svc-test", "WARNING", stream=log_stream)
    ours = [h for h in root.handlers if getattr(h, "_aiaas_handler", False)]
    assert len(ours) == 1
    assert root.level == logging.WARNING
    logging.getLogger("aiaas.test").warning("once")
    assert [line["msg"] for line in _lines(log_stream)] == ["once"]


def test_text_format_includes_the_trace_id(memory_exporter, log_stream):
    configure_logging("svc-test", "INFO", json=False, stream=log_stream)
    with trace.get_tracer("test").start_as_current_span("work"):
        trace_id, _ = current_trace_ids()
        logging.getLogger("aiaas.test").info("hello")
    line = log_stream.getvalue().strip()
    assert line.endswith(f"INFO svc-test aiaas.test hello trace_id={trace_id}")


def test_trace_context_round_trips_through_headers(memory_exporter):
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("publish", kind=SpanKind.PRODUCER) as producer:
        headers = inject_trace_headers({"Nats-Msg-Id": "evt-1"})
        sent = producer.get_span_context()
    assert headers["Nats-Msg-Id"] == "evt-1"
    assert headers["traceparent"] == f"00-{sent.trace_id:032x}-{sent.span_id:016x}-{int(sent.trace_flags):02x}"

    # The consumer side: no current span; the parent comes only from the headers.
    assert current_trace_ids() == (None, None)
    upper = {("Traceparent" if k == "traceparent" else k): v for k, v in headers.items()}
    with tracer.start_as_current_span(
        "consume", context=extract_trace_context(upper), kind=SpanKind.CONSUMER
    ) as consumer:
        trace_id, span_id = current_trace_ids()
    assert consumer.parent is not None
    assert consumer.parent.span_id == sent.span_id
    assert consumer.parent.is_remote
    assert trace_id == f"{sent.trace_id:032x}"
    assert span_id == f"{consumer.get_span_context().span_id:016x}"


def test_extract_without_headers_gives_no_parent(memory_exporter):
    for headers in (None, {}, {"traceparent": "garbage"}):
        ctx = extract_trace_context(headers)
        assert not trace.get_current_span(ctx).get_span_context().is_valid
    assert inject_trace_headers({}) == {}


def test_setup_tracing_is_once_and_validates(memory_exporter):
    assert setup_tracing("another-name", "none") is trace.get_tracer_provider()
    assert get_memory_exporter() is memory_exporter
    with pytest.raises(ValueError):
        setup_tracing("x", "jaeger")


async def test_instrumented_app_produces_a_server_span(memory_exporter, log_stream):
    app = FastAPI()

    @app.get("/v1/things/{thing_id}")
    async def get_thing(thing_id: str) -> dict[str, str | None]:
        logging.getLogger("aiaas.test").info("serving")
        trace_id, _ = current_trace_ids()
        return {"id": thing_id, "trace_id": trace_id}

    @app.get("/health/live")
    async def live() -> dict[str, bool]:
        return {"ok": True}

    instrument_fastapi(app)
    memory_exporter.clear()
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/v1/things/abc")
        health = await client.get("/health/live")
    assert response.status_code == 200 and health.status_code == 200

    servers = [s for s in memory_exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert len(servers) == 1  # /health/live is excluded
    [span] = servers
    assert span.name == "GET /v1/things/{thing_id}"
    assert span.attributes["http.route"] == "/v1/things/{thing_id}"
    # The global provider is set once per process, by whichever suite ran first.
    assert span.resource.attributes["service.name"]
    trace_id = f"{span.context.trace_id:032x}"
    assert response.json() == {"id": "abc", "trace_id": trace_id}
    [line] = [line for line in _lines(log_stream) if line["msg"] == "serving"]
    assert line["trace_id"] == trace_id


async def test_metrics_are_served_on_their_own_listener_only():
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    port = free_port()
    app = service_app(ServiceSettings(metrics_port=port), title="t", lifespan=lifespan, routers=[], tracing=False)
    _TEST_REQUESTS.labels(route="/x").inc(3)
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), on_state_change=record_breaker_state)
    registry.record_failure("obs-test-deployment")
    assert registry.state("obs-test-deployment") is BreakerState.OPEN

    metrics_url = f"http://127.0.0.1:{port}/metrics"
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://test") as tenant_port,
        httpx2.AsyncClient() as client,
    ):
        # The app's own (tenant-facing) port has no /metrics: the shared 404 error shape.
        not_there = await tenant_port.get("/metrics")
        assert not_there.status_code == 404 and not_there.json()["error"]["type"] == "not_found_error"
        plain = await client.get(metrics_url)
        open_metrics = await client.get(metrics_url, headers={"accept": "application/openmetrics-text"})
    with pytest.raises(httpx2.ConnectError):  # the listener closes with the app
        async with httpx2.AsyncClient() as client:
            await client.get(metrics_url)

    assert plain.status_code == 200
    assert plain.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    lines = plain.text.splitlines()
    assert 'aiaas_observability_test_requests_total{route="/x"} 3.0' in lines
    assert 'circuit_breaker_state{key="obs-test-deployment"} 2.0' in lines
    assert "# TYPE events_dead_lettered_total counter" in lines
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.rstrip().endswith("# EOF")
    assert BREAKER_STATE.labels(key="obs-test-deployment")._value.get() == 2.0


async def test_unhandled_error_is_recorded_on_the_server_span(memory_exporter):
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaput")

    instrument_fastapi(app)
    memory_exporter.clear()
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    [span] = [s for s in memory_exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["http.status_code"] == 500
    [event] = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"] == "RuntimeError"
    assert event.attributes["exception.message"] == "kaput"
