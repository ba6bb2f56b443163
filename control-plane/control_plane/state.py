"""Everything the control plane creates at start-up, handed to handlers through one typed object."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from control_plane.config import ControlPlaneSettings
from control_plane.flags.publisher import FlagPublisher

__all__ = ["ControlPlaneState"]


@dataclass
class ControlPlaneState:
    settings: ControlPlaneSettings
    admin_engine: AsyncEngine
    admin_sessions: async_sessionmaker[AsyncSession]
    publisher: FlagPublisher
