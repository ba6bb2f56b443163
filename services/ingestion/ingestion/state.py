"""Everything the ingestion API creates at start-up, handed to handlers through one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiaas.auth import ApiKeyResolver, Principal
from aiaas.deps import require_scope, service_state
from aiaas.scopes import INGESTION
from ingestion.config import IngestionSettings
from ingestion.documents.service import Pipeline

__all__ = ["IngestionState", "StateDep", "IngestionKeyDep", "INGESTION_SCOPE"]

# The scope a key needs here: `ingestion` (aiaas.scopes), granted per key like the others.
INGESTION_SCOPE = INGESTION


@dataclass
class IngestionState:
    settings: IngestionSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    resolver: ApiKeyResolver
    pipeline: Pipeline


StateDep = Annotated[IngestionState, Depends(service_state)]
IngestionKeyDep = Annotated[Principal, require_scope(INGESTION_SCOPE)]
