"""Everything the orchestrator API creates at start-up, handed to handlers through one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from nats.aio.client import Client as NATS
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiaas.auth import ApiKeyResolver, Principal
from aiaas.deps import require_scope, service_state
from aiaas.flags import FlagClient
from aiaas.scopes import ORCHESTRATOR
from orchestrator.config import OrchestratorSettings
from orchestrator.runs.service import RunService

__all__ = ["OrchestratorState", "StateDep", "OrchestratorKeyDep", "ORCHESTRATOR_SCOPE"]

# The scope a key needs here: `orchestrator` (aiaas.scopes), granted per key like the others.
ORCHESTRATOR_SCOPE = ORCHESTRATOR


@dataclass
class OrchestratorState:
    settings: OrchestratorSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    resolver: ApiKeyResolver
    nats: NATS
    flags: FlagClient
    runs: RunService


StateDep = Annotated[OrchestratorState, Depends(service_state)]
OrchestratorKeyDep = Annotated[Principal, require_scope(ORCHESTRATOR_SCOPE)]
