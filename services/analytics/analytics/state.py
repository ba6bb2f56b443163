"""Everything a KPI listener creates at start-up, handed to handlers through one typed object.

The tenant API holds `AnalyticsState` (app_runtime only); the admin listener (`python -m analytics.admin`)
holds `AnalyticsAdminState` (platform_admin only).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiaas.auth import ApiKeyResolver
from analytics.config import AnalyticsSettings

__all__ = ["AnalyticsState", "AnalyticsAdminState"]


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
