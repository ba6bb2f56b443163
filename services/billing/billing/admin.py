"""The billing admin listener: `python -m billing.admin [--host H] [--port 8086]`.

Serves `/admin/billing/*` (platform-admin keys) and `POST /webhooks/stripe` (Stripe's signature), the
billing routes that must cross tenants: so this process, not the tenant API, holds the platform_admin
role. It is not exposed to tenants; only `/webhooks/stripe` is routed to it from outside (for Stripe).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields
from functools import partial
from typing import Any

from fastapi import FastAPI

from aiaas.auth import AdminKeyResolver, use_admin_key_resolver
from aiaas.db import create_engine, session_factory
from aiaas.deps import set_service_state
from aiaas.serve import run_service
from aiaas.service_app import service_app
from billing.app import open_state
from billing.balance import endpoints as balance
from billing.config import BillingAdminSettings
from billing.health import admin_router as health_router
from billing.invoices import endpoints as invoices
from billing.metering import endpoints as metering
from billing.metering.quota import publish_quota
from billing.plans import endpoints as plans
from billing.state import BillingAdminState
from billing.stripe import endpoints as stripe_webhook
from billing.stripe.config import StripeSettings
from billing.stripe.service import StripeWebhookContext
from billing.subscriptions import endpoints as subscriptions

__all__ = ["create_app", "main"]

DEFAULT_PORT = 8086


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    settings: BillingAdminSettings = app.state.settings
    async with open_state(settings) as shared:
        admin_engine = create_engine(settings.admin_database_url, pool_size=2, application_name=settings.service_name)
        admin_sessions = session_factory(admin_engine)
        state = BillingAdminState(
            **{field.name: getattr(shared, field.name) for field in fields(shared)},
            admin_engine=admin_engine,
            admin_sessions=admin_sessions,
        )
        set_service_state(app, state)
        use_admin_key_resolver(app, AdminKeyResolver(state.engine, cache_ttl_s=settings.admin_key_cache_ttl_s))
        stripe_settings = StripeSettings()
        webhook = StripeWebhookContext(
            stripe_settings.webhook_secret,
            state.sessions,
            admin_sessions,
            stripe_settings.webhook_tolerance_s,
            on_credit=partial(publish_quota, state),
        )
        try:
            # Lifespan state: what `POST /webhooks/stripe` reads per request.
            yield {"stripe_webhook": webhook}
        finally:
            await admin_engine.dispose()


def create_app(settings: BillingAdminSettings | None = None) -> FastAPI:
    settings = settings or BillingAdminSettings(service_name="billing-admin")
    # Stripe calls its webhook with no key of ours: the Stripe-Signature header is the authentication.
    app: FastAPI = service_app(
        settings,
        title="AIaaS billing admin",
        lifespan=_lifespan,
        routers=[
            plans.admin_router,
            subscriptions.admin_router,
            metering.admin_router,
            invoices.admin_router,
            balance.admin_router,
            stripe_webhook.router,
            health_router,
        ],
        tracing=settings.tracing,
        max_body_bytes=settings.max_body_bytes,
    )
    return app


def main(argv: list[str] | None = None) -> int:
    return run_service("python -m billing.admin", "billing.admin:create_app", port=DEFAULT_PORT, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
