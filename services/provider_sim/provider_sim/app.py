"""Application factory of the provider simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from aiaas.deps import set_service_state
from aiaas.service_app import service_app
from provider_sim.anthropic.endpoints import anthropic_routes
from provider_sim.config import Settings
from provider_sim.control.endpoints import control_router
from provider_sim.errors import SimError, error_response
from provider_sim.models.endpoints import models_routes
from provider_sim.openai.endpoints import openai_routes
from provider_sim.state import SimState

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; model profiles are validated here so bad config fails before serving."""
    settings = settings or Settings()
    profiles = settings.model_profiles()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        set_service_state(app, SimState(settings, profiles))
        yield

    app = service_app(settings, title="provider-sim", lifespan=lifespan, routers=[control_router], tracing=False)
    # The provider endpoints are plain Starlette routes: no dependency injection or response
    # validation on the hot path; they parse and render with pydantic-core and orjson directly.
    app.router.routes.extend([*openai_routes(), *anthropic_routes(), *models_routes()])
    # The control API's refusals in OpenAI's error shape too, not the platform's.
    app.add_exception_handler(RequestValidationError, _invalid_control_request)
    app.add_exception_handler(HTTPException, _control_http_error)
    return app


async def _invalid_control_request(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    location = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    message = str(first.get("msg", "invalid body"))
    return _control_error(422, f"{location}: {message}" if location else message, location or None)


async def _control_http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _control_error(exc.status_code, str(exc.detail))


def _control_error(status: int, message: str, param: str | None = None) -> Response:
    response = error_response(SimError("invalid_request", message, param=param), "openai", "control")
    response.status_code = status
    return response
