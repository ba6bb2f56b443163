"""Everything the router API creates at start-up, handed to handlers through one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends
from nats.aio.client import Client as NATS
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiaas.auth import AdminKeyResolver, ApiKeyResolver
from aiaas.deps import service_state
from aiaas.events import DurableEmitter
from router.bandit.service import ArmStore
from router.canary.service import CanaryMonitor
from router.config import RouterAdminSettings, RouterSettings
from router.policy.schemas import Policy
from router.policy.service import PolicyStore
from router.versions.selector import VersionSelector
from router.versions.service import VersionAdmin

if TYPE_CHECKING:
    from router.callers import TenantKnown

__all__ = ["RouterState", "StateDep", "RouterAdminState", "AdminStateDep"]


@dataclass
class RouterState:
    settings: RouterSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    nats: NATS
    resolver: ApiKeyResolver
    # The gateway's service credential is a named platform-admin key, resolved through the SECURITY DEFINER
    # lookup app_runtime may call (no platform_admin role needed).
    admin_keys: AdminKeyResolver
    tenants: TenantKnown
    emitter: DurableEmitter
    # Which router version (model) decides: stable, or the canary for its share of conversations.
    selector: VersionSelector
    policies: PolicyStore
    platform_policy: Policy
    arms: ArmStore


StateDep = Annotated[RouterState, Depends(service_state)]


@dataclass
class RouterAdminState:
    """The admin listener's state (router/admin.py: versions and the canary monitor), platform_admin only."""

    settings: RouterAdminSettings
    admin_engine: AsyncEngine
    admin_sessions: async_sessionmaker[AsyncSession]
    versions: VersionAdmin
    # The default artifact's version name (stable while the database has none).
    versions_default: str
    monitor: CanaryMonitor


AdminStateDep = Annotated[RouterAdminState, Depends(service_state)]
