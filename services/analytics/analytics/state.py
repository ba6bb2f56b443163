"""Everything the KPI API creates at start-up, handed to handlers through one typed object."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiaas.auth import ApiKeyResolver
from analytics.config import AnalyticsSettings

__all__ = ["AnalyticsState"]


@dataclass
class AnalyticsState:
    settings: AnalyticsSettings
    engine: AsyncEngine
    admin_engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    admin_sessions: async_sessionmaker[AsyncSession]
    resolver: ApiKeyResolver
