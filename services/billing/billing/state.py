"""Everything a billing listener creates at start-up, handed to handlers through one typed object.

The tenant API holds `BillingState` (app_runtime only); the admin listener (`python -m billing.admin`)
holds `BillingAdminState`, which adds the platform_admin engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as redis_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiaas.auth import ApiKeyResolver
from aiaas.flags.plans import TenantPlanPublisher
from billing.catalogue import CatalogueCache
from billing.config import BillingSettings

__all__ = ["BillingState", "BillingAdminState"]


@dataclass
class BillingState:
    settings: BillingSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: redis_asyncio.Redis
    # Writes a tenant's plan code to the `tenant_plans` KV bucket when a change or top-up is published.
    plans: TenantPlanPublisher
    resolver: ApiKeyResolver
    catalogue: CatalogueCache


@dataclass
class BillingAdminState(BillingState):
    admin_engine: AsyncEngine
    admin_sessions: async_sessionmaker[AsyncSession]
