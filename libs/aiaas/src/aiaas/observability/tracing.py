"""OpenTelemetry set-up and W3C trace-context propagation through NATS message headers."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = [
    "setup_tracing",
    "get_memory_exporter",
    "instrument_fastapi",
    "inject_trace_headers",
    "extract_trace_context",
    "current_trace_ids",
]

_memory_exporter: InMemorySpanExporter | None = None


def setup_tracing(service_name: str, exporter: str = "none") -> TracerProvider | None:
    """Install the global tracer provider once. exporter: none | console | memory | otlp."""
    global _memory_exporter
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        if exporter == "memory" and _memory_exporter is None:
            _memory_exporter = InMemorySpanExporter()
            current.add_span_processor(SimpleSpanProcessor(_memory_exporter))
        return current
    if exporter == "none":
        return None
    from opentelemetry.sdk.resources import Resource

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter == "memory":
        _memory_exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(_memory_exporter))
    elif exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise RuntimeError("OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http") from exc
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        raise ValueError(f"unknown trace exporter {exporter!r}")
    trace.set_tracer_provider(provider)
    return provider


def get_memory_exporter() -> InMemorySpanExporter:
    if _memory_exporter is None:
        raise RuntimeError("setup_tracing(..., 'memory') was not called")
    return _memory_exporter


def instrument_fastapi(app: FastAPI, excluded_urls: str = "health/.*,metrics") -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls=excluded_urls)


def inject_trace_headers(headers: dict[str, str]) -> dict[str, str]:
    """Add traceparent/tracestate of the current span (if any) to `headers` and return it."""
    propagate.inject(headers)
    return headers


def extract_trace_context(headers: Mapping[str, str] | None) -> otel_context.Context:
    return propagate.extract(dict(headers or {}))


def current_trace_ids() -> tuple[str | None, str | None]:
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
