"""Application factory of the Stripe stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from aiaas.deps import set_service_state
from aiaas.service_app import service_app
from stripe_sim.catalog.endpoints import catalog_routes
from stripe_sim.checkout.endpoints import checkout_routes
from stripe_sim.config import Settings
from stripe_sim.control.endpoints import control_router
from stripe_sim.events.endpoints import event_routes
from stripe_sim.invoices.endpoints import invoice_routes
from stripe_sim.metering.endpoints import metering_routes
from stripe_sim.state import SimState
from stripe_sim.subscriptions.endpoints import subscription_routes
from stripe_sim.wire import unknown_route

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the state (objects, logs, webhook client) is born in lifespan."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = SimState(settings)
        await state.webhooks.start()
        if settings.webhook_url:
            # Compose has no step that could POST /_sim/webhook_endpoints: the endpoint can come from the env.
            state.webhooks.add_endpoint(settings.webhook_url, settings.webhook_secret, ["*"])
        set_service_state(app, state)
        try:
            yield
        finally:
            await state.webhooks.close()

    app = service_app(settings, title="stripe-sim", lifespan=lifespan, routers=[control_router], tracing=False)
    # The /v1 endpoints are plain Starlette routes sharing one pipeline (stripe_sim.wire) that
    # decodes Stripe's form encoding and renders Stripe's error shape; only /_sim uses FastAPI models.
    app.router.routes.extend(
        [
            *catalog_routes(),
            *metering_routes(),
            *subscription_routes(),
            *invoice_routes(),
            *checkout_routes(),
            *event_routes(),
            unknown_route(),  # last: any other /v1 path answers in Stripe's error shape
        ]
    )
    return app
