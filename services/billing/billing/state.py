"""Everything a billing listener creates at start-up, handed to handlers through one typed object.

The tenant API holds `BillingState` (app_runtime only); the admin listener (`python -m billing.admin`)
holds `BillingAdminState`, which adds the platform_admin engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as redis_asyncio
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiaas.auth import ApiKeyResolver, Principal
from aiaas.deps import require_scope, service_state
from aiaas.flags.plans import TenantPlanPublisher
from aiaas.scopes import BILLING_MANAGE, BILLING_READ
from billing.config import BillingSettings
from billing.plans.service import CatalogueCache

__all__ = ["BillingState", "BillingAdminState", "StateDep", "AdminStateDep", "BillingReadDep", "BillingManageDep"]


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


StateDep = Annotated[BillingState, Depends(service_state)]
# The admin listener's state (billing/admin.py): the tenant API has no platform_admin engine.
AdminStateDep = Annotated[BillingAdminState, Depends(service_state)]

# Reads (usage, invoices, balance, subscription) and writes (plan, top-ups, alerts) are separate grants.
BillingReadDep = Annotated[Principal, require_scope(BILLING_READ)]
BillingManageDep = Annotated[Principal, require_scope(BILLING_MANAGE)]
