"""Builds the billing FastAPI app; every resource is born in `lifespan`."""

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
from billing.api.admin import router as admin_router
from billing.api.tenant import router as tenant_router
from billing.catalogue import CatalogueCache
from billing.config import BillingSettings
from billing.health import router as health_router
from billing.state import BillingState
from billing.stripe_config import StripeSettings
from billing.stripe_webhook import StripeWebhookContext
from billing.stripe_webhook import router as stripe_webhook_router

__all__ = ["create_app"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    settings: BillingSettings = app.state.settings
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size, application_name="billing")
    admin_engine = create_engine(settings.admin_database_url, pool_size=2, application_name="billing-admin")
    redis = redis_asyncio.Redis.from_url(settings.redis_url)
    # Its own NATS connection, made in the background: the API starts (and serves) with NATS down.
    plans = await TenantPlanPublisher(settings.nats_url, name=settings.service_name).start()
    sessions = session_factory(engine)
    admin_sessions = session_factory(admin_engine)
    stripe_settings = StripeSettings()
    app.state.billing = BillingState(
        settings=settings,
        engine=engine,
        admin_engine=admin_engine,
        sessions=sessions,
        admin_sessions=admin_sessions,
        redis=redis,
        plans=plans,
        resolver=ApiKeyResolver(engine, cache_ttl_s=settings.auth_cache_ttl_s),
        catalogue=CatalogueCache(sessions, settings.catalogue_ttl_s),
    )
    use_api_key_resolver(app, app.state.billing.resolver)
    webhook = StripeWebhookContext(
        stripe_settings.webhook_secret, sessions, admin_sessions, stripe_settings.webhook_tolerance_s
    )
    try:
        # Lifespan state: what `POST /webhooks/stripe` reads per request.
        yield {"stripe_webhook": webhook}
    finally:
        await plans.close()
        await redis.aclose()
        await engine.dispose()
        await admin_engine.dispose()


def create_app(settings: BillingSettings | None = None) -> FastAPI:
    settings = settings or BillingSettings()
    # Stripe calls its webhook with no tenant key: the Stripe-Signature header is the authentication.
    routers = [tenant_router, admin_router, stripe_webhook_router, health_router]
    return service_app(
        settings,
        title="AIaaS billing",
        lifespan=_lifespan,
        routers=routers,
        tracing=settings.tracing,
        max_body_bytes=settings.max_body_bytes,
    )
