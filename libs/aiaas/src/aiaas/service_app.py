"""The FastAPI app every HTTP service starts from: JSON logs, the shared error shape, its routers,
Prometheus metrics on their own listener (`<PREFIX>_METRICS_PORT`; the app's own port has no `/metrics`),
and optionally OpenTelemetry spans and a request-body limit.

FastAPI's native telemetry is off: spans come from opentelemetry-instrumentation-fastapi, which it
would double.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI

from aiaas.errors import BodySizeLimitMiddleware, install_error_handlers
from aiaas.observability.logging import configure_logging
from aiaas.observability.metrics import serve_metrics
from aiaas.observability.tracing import instrument_fastapi, setup_tracing
from aiaas.settings import ServiceSettings

__all__ = ["service_app", "with_metrics_listener"]


def with_metrics_listener(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]], settings: ServiceSettings
) -> Callable[[FastAPI], AbstractAsyncContextManager[Any]]:
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


def service_app(
    settings: ServiceSettings,
    *,
    title: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]],
    routers: Sequence[APIRouter],
    tracing: bool,
    max_body_bytes: int | None = None,
) -> FastAPI:
    """A service's app with `settings` on `app.state.settings`, `routers` mounted in order."""
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    app = FastAPI(
        title=title,
        version="0.1.0",
        lifespan=with_metrics_listener(lifespan, settings),
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    if tracing:
        setup_tracing(settings.service_name, settings.otel_exporter)
        instrument_fastapi(app)
    if max_body_bytes is not None:
        app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    return app


def serve(factory: str, *, host: str, port: int, **options: Any) -> None:
    """Run the app that `factory` ("package.module:create_app") builds, the way every service runs.

    uvloop + httptools, no access log (requests are logged by the app's own JSON logging), and 30 s
    for in-flight requests on shutdown; `options` are passed to uvicorn on top.
    """
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        **{
            "loop": "uvloop",
            "http": "httptools",
            "access_log": False,
            "log_config": None,
            "timeout_graceful_shutdown": 30,
            **options,
        },
    )
