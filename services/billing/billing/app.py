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
from aiaas.flags.plans import TenantPlanPublisher
from aiaas.service_app import service_app
from billing.api.tenant import router as tenant_router
from billing.api.topups import router as top_ups_router
from billing.catalogue import CatalogueCache
from billing.config import BillingSettings
from billing.health import router as health_router
from billing.state import BillingState
from billing.stripe_client import open_stripe
from billing.stripe_config import StripeSettings

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
        app.state.billing = state
        use_api_key_resolver(app, state.resolver)
        # Lifespan state: the Stripe client top-ups create Checkout Sessions with (None: not configured).
        yield {"stripe": stripe_api}


def create_app(settings: BillingSettings | None = None) -> FastAPI:
    settings = settings or BillingSettings()
    return service_app(
        settings,
        title="AIaaS billing",
        lifespan=_lifespan,
        routers=[tenant_router, top_ups_router, health_router],
        tracing=settings.tracing,
        max_body_bytes=settings.max_body_bytes,
    )
