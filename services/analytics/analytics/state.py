"""Everything a KPI listener creates at start-up, handed to handlers through one typed object.

The tenant API holds `AnalyticsState` (app_runtime only); the admin listener (`python -m analytics.admin`)
holds `AnalyticsAdminState` (platform_admin only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiaas.auth import ApiKeyResolver
from aiaas.deps import service_state
from analytics.config import AnalyticsSettings

__all__ = ["AnalyticsState", "AnalyticsAdminState", "StateDep", "AdminStateDep"]


@dataclass
class AnalyticsState:
    settings: AnalyticsSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    resolver: ApiKeyResolver


@dataclass
class AnalyticsAdminState:
    settings: AnalyticsSettings
    admin_engine: AsyncEngine
    admin_sessions: async_sessionmaker[AsyncSession]


StateDep = Annotated[AnalyticsState, Depends(service_state)]
# The admin listener's state (analytics/admin.py): the tenant API has no platform_admin engine.
AdminStateDep = Annotated[AnalyticsAdminState, Depends(service_state)]
