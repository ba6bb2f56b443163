"""Application factory of the provider simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from provider_sim.anthropic_api import anthropic_routes
from provider_sim.config import Settings
from provider_sim.control_api import control_router
from provider_sim.models_api import models_routes
from provider_sim.openai_api import openai_routes
from provider_sim.state import SimState

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; model profiles are validated here so bad config fails before serving."""
    settings = settings or Settings()
    profiles = settings.model_profiles()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, SimState]]:
        yield {"sim": SimState(settings, profiles)}

    # The provider endpoints are plain Starlette routes: no dependency injection or response
    # validation on the hot path; they parse and render with pydantic-core and orjson directly.
    app = FastAPI(
        title="provider-sim",
        description="OpenAI and Anthropic wire-protocol simulator",
        lifespan=lifespan,
        routes=[*openai_routes(), *anthropic_routes(), *models_routes()],
    )
    app.include_router(control_router)
    return app
