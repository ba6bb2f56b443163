"""The current manifest of an agent: the control plane's registry (`PUT /admin/agents/{name}` with a `manifest`,
migration 0030_registry_manifests), else the built-in one of that name (agents/manifest.py), else none.

Read in the transaction that creates the run, so the run pins exactly the manifest it was validated against.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.errors import ServiceUnavailable
from orchestrator.agents import repository
from orchestrator.agents.manifest import BUILTIN_MANIFESTS, AgentManifest

__all__ = ["current_manifest"]

log = logging.getLogger(__name__)


async def current_manifest(session: AsyncSession, name: str) -> AgentManifest | None:
    """The manifest a new run of agent `name` pins; None when the agent is neither registered nor built in."""
    stored = await repository.newest_manifest(session, name)
    if stored is None:
        return BUILTIN_MANIFESTS.get(name)
    try:
        return AgentManifest.model_validate(stored)
    except ValidationError as exc:
        # The control plane validates a manifest before storing it: this one was written around it.
        log.error("agent manifest in the registry is invalid", extra={"agent": name, "errors": exc.error_count()})
        raise ServiceUnavailable(
            "The agent's manifest in the registry is invalid.", code="agent_manifest_invalid"
        ) from None
