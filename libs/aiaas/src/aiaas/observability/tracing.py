"""OpenTelemetry set-up and W3C trace-context propagation through NATS message headers."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = [
    "EXPORTERS",
    "setup_tracing",
    "get_memory_exporter",
    "instrument_fastapi",
    "inject_trace_headers",
    "extract_trace_context",
    "current_trace_ids",
]

EXPORTERS = ("none", "console", "otlp", "memory")


class _Installed:
    """What this process installed: OTel's provider is process-global, so our record of it is too."""

    memory_exporter: InMemorySpanExporter | None = None


def setup_tracing(service_name: str, exporter: str = "none") -> TracerProvider:
    """Install the global SDK tracer provider once and return it.

    exporter: "none" (spans are made, so logs and NATS headers carry trace ids, but not
    exported), "console", "otlp" (needs opentelemetry-exporter-otlp-proto-http), or "memory"
    (kept for tests, see `get_memory_exporter`). A later call returns the installed provider;
    asking it for "memory" adds the in-memory exporter to it.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown trace exporter {exporter!r}; expected one of {EXPORTERS}")
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        if exporter == "memory":
            _add_memory_exporter(current)
        return current
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter == "memory":
        _add_memory_exporter(provider)
    elif exporter != "none":
        provider.add_span_processor(BatchSpanProcessor(_exporter(exporter)))
    trace.set_tracer_provider(provider)
    return provider


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise RuntimeError("trace exporter 'otlp' needs the opentelemetry-exporter-otlp-proto-http package") from exc
    otlp: SpanExporter = OTLPSpanExporter()
    return otlp


def _add_memory_exporter(provider: TracerProvider) -> None:
    if _Installed.memory_exporter is None:
        _Installed.memory_exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(_Installed.memory_exporter))


def get_memory_exporter() -> InMemorySpanExporter:
    """The exporter installed by `setup_tracing(..., "memory")`."""
    if _Installed.memory_exporter is None:
        raise RuntimeError("setup_tracing(..., 'memory') was not called")
    return _Installed.memory_exporter


def instrument_fastapi(app: FastAPI, excluded_urls: str = "health/.*,metrics") -> None:
    """Server spans for every request to `app` except `excluded_urls` (comma-separated regexes)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # One server span per request; the per-message "http receive/send" child spans cost more
    # than they tell, so they are left out.
    FastAPIInstrumentor.instrument_app(app, excluded_urls=excluded_urls, exclude_spans=["receive", "send"])


def inject_trace_headers(headers: dict[str, str]) -> dict[str, str]:
    """Add traceparent/tracestate of the current span (if any) to `headers` and return it."""
    propagate.inject(headers)
    return headers


def extract_trace_context(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The remote parent carried by message `headers` (names matched case-insensitively)."""
    return propagate.extract({key.lower(): value for key, value in (headers or {}).items()})


def current_trace_ids() -> tuple[str | None, str | None]:
    """(trace_id, span_id) of the current span as W3C hex, or (None, None) outside a span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
