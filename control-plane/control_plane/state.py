"""Everything the control plane creates at start-up, handed to handlers through one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiaas.deps import service_state
from control_plane.config import ControlPlaneSettings
from control_plane.flags.publisher import FlagPublisher
from control_plane.flags.service import FlagService
from control_plane.registry.service import RegistryService

__all__ = ["ControlPlaneState", "StateDep"]


@dataclass
class ControlPlaneState:
    settings: ControlPlaneSettings
    admin_engine: AsyncEngine
    admin_sessions: async_sessionmaker[AsyncSession]
    publisher: FlagPublisher
    flags: FlagService
    registry: RegistryService


StateDep = Annotated[ControlPlaneState, Depends(service_state)]
