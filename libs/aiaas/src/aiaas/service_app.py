"""The FastAPI app every HTTP service starts from: JSON logs, the shared error shape, its routers,
Prometheus metrics on their own listener (`<PREFIX>_METRICS_PORT`; the app's own port has no `/metrics`),
optionally OpenTelemetry spans, a request-body limit and fast routes (aiaas.fast_route) served in front
of the middleware stack with that same limit and error shape.

FastAPI's native telemetry is off: spans come from opentelemetry-instrumentation-fastapi, which it
would double.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import Receive, Scope, Send

from aiaas.errors import BodySizeLimitMiddleware, install_error_handlers
from aiaas.fast_route import FastHandler, FastRoute
from aiaas.observability.http_metrics import HttpMetrics
from aiaas.observability.logging import configure_logging
from aiaas.observability.metrics import serve_metrics
from aiaas.observability.tracing import instrument_fastapi, setup_tracing
from aiaas.settings import ServiceSettings

__all__ = ["service_app", "with_metrics_listener", "ServiceApp", "Lifespan"]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]
# A fast route with no explicit limit still has one: what a chat request with a long history needs, and no more.
_DEFAULT_FAST_BODY_BYTES = 8 * 1024 * 1024


def with_metrics_listener(lifespan: Lifespan, settings: ServiceSettings) -> Lifespan:
    """`lifespan`, with the metrics listener of `settings` open while the app runs."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[Any]:
        stop = serve_metrics(settings.metrics_port, settings.metrics_host)
        try:
            async with lifespan(app) as state:
                yield state
        finally:
            stop()

    return run


class ServiceApp(FastAPI):
    """FastAPI, with each fast route's path answered before the middleware stack and router, and every
    HTTP request (fast or not) counted and timed by `http_metrics` (aiaas.observability.http_metrics)."""

    fast_routes: dict[str, FastRoute]
    http_metrics: HttpMetrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self.fast_routes.get(scope["path"])
            if route is not None:
                await self.http_metrics.observe(route, scope, receive, send, route.handler.path)
            else:
                await self.http_metrics.observe(super().__call__, scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = get_openapi(title=self.title, version=self.version, routes=self.routes)
            for route in self.fast_routes.values():
                route.handler.document(schema)
            self.openapi_schema = schema
        return self.openapi_schema


def service_app(
    settings: ServiceSettings,
    *,
    title: str,
    lifespan: Lifespan,
    routers: Sequence[APIRouter],
    tracing: bool,
    max_body_bytes: int | None = None,
    fast_routes: Sequence[FastHandler] = (),
) -> ServiceApp:
    """A service's app with `settings` on `app.state.settings`, `routers` mounted in order.

    A fast route reads the state the lifespan set (aiaas.deps.set_service_state) and gets `max_body_bytes`.
    """
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    app = ServiceApp(
        title=title,
        version="0.1.0",
        lifespan=with_metrics_listener(lifespan, settings),
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.http_metrics = HttpMetrics(settings.service_name)
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    if tracing:
        setup_tracing(settings.service_name, settings.otel_exporter)
        instrument_fastapi(app)
    if max_body_bytes is not None:
        app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)

    def state() -> object:
        return app.state.service

    app.fast_routes = {
        handler.path: FastRoute(
            handler, state=state, max_body_bytes=max_body_bytes or _DEFAULT_FAST_BODY_BYTES, tracing=tracing
        )
        for handler in fast_routes
    }
    return app
