"""Application factory of the toolbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from aiaas.deps import set_service_state
from aiaas.service_app import service_app
from toolbox.backends import backend_routers
from toolbox.config import Settings
from toolbox.control import control_router
from toolbox.delivery import RawReceiveMiddleware
from toolbox.health import router as health_router
from toolbox.state import ToolboxState

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the in-memory state is born in lifespan."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        set_service_state(app, ToolboxState(settings))
        yield

    app = service_app(
        settings,
        title="toolbox",
        lifespan=lifespan,
        routers=[health_router, *backend_routers()],
        tracing=False,
        max_body_bytes=settings.max_body_bytes,
    )
    # The test hooks stay out of the OpenAPI schema, so a schema-driven fuzzer cannot set faults (README lists them).
    app.include_router(control_router, include_in_schema=False)
    _mark_retryable(app)
    # Outermost, so `after_effect=close` can reach the server's connection (toolbox.delivery).
    app.add_middleware(RawReceiveMiddleware)
    return app


def _mark_retryable(app: FastAPI) -> None:
    """The platform's validation (400/422) and routing (404/405) errors get the toolbox's `retryable` too."""
    for exc_type in (RequestValidationError, HTTPException):
        platform_handler = app.exception_handlers[exc_type]

        async def handler(request: Request, exc: Exception, platform_handler: object = platform_handler) -> Response:
            assert callable(platform_handler)
            response: Response = await platform_handler(request, exc)
            body = orjson.loads(bytes(response.body))
            body["error"]["retryable"] = response.status_code >= 500 or response.status_code == 429
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            return Response(orjson.dumps(body), response.status_code, headers, "application/json")

        app.add_exception_handler(exc_type, handler)
