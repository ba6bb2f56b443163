"""Builds the billing tenant API (`/v1/billing`, tenant keys, app_runtime only); every resource is born in
`lifespan`. Platform administration and Stripe's webhooks run in the admin listener (billing/admin.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as redis_asyncio
from fastapi import FastAPI

from aiaas.auth import ApiKeyResolver, use_api_key_resolver
from aiaas.db import create_engine, session_factory
from aiaas.deps import set_service_state
from aiaas.flags.plans import TenantPlanPublisher
from aiaas.service_app import service_app
from billing.alerts import endpoints as alerts
from billing.balance import endpoints as balance
from billing.config import BillingSettings
from billing.health import router as health_router
from billing.invoices import endpoints as invoices
from billing.metering import endpoints as metering
from billing.plans.service import CatalogueCache
from billing.state import BillingState
from billing.stripe.client import open_stripe
from billing.stripe.config import StripeSettings
from billing.subscriptions import endpoints as subscriptions

__all__ = ["create_app", "open_state"]


@asynccontextmanager
async def open_state(settings: BillingSettings) -> AsyncIterator[BillingState]:
    """The resources both billing listeners share (app_runtime engine, Redis, plan publisher, catalogue)."""
    engine = create_engine(
        settings.database_url, pool_size=settings.db_pool_size, application_name=settings.service_name
    )
    redis = redis_asyncio.Redis.from_url(settings.redis_url)
    # Its own NATS connection, made in the background: the API starts (and serves) with NATS down.
    plans = await TenantPlanPublisher(settings.nats_url, name=settings.service_name).start()
    sessions = session_factory(engine)
    try:
        yield BillingState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            redis=redis,
            plans=plans,
            resolver=ApiKeyResolver(engine, cache_ttl_s=settings.auth_cache_ttl_s),
            catalogue=CatalogueCache(sessions, settings.catalogue_ttl_s),
        )
    finally:
        await plans.close()
        await redis.aclose()
        await engine.dispose()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    async with open_state(app.state.settings) as state, open_stripe(StripeSettings()) as stripe_api:
        set_service_state(app, state)
        use_api_key_resolver(app, state.resolver)
        # Lifespan state: the Stripe client top-ups create Checkout Sessions with (None: not configured).
        yield {"stripe": stripe_api}


def create_app(settings: BillingSettings | None = None) -> FastAPI:
    settings = settings or BillingSettings()
    app: FastAPI = service_app(
        settings,
        title="AIaaS billing",
        lifespan=_lifespan,
        routers=[
            metering.router,
            invoices.router,
            subscriptions.router,
            balance.router,
            alerts.router,
            health_router,
        ],
        tracing=settings.tracing,
        max_body_bytes=settings.max_body_bytes,
    )
    return app
