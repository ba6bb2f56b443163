"""The manifest a run pinned, rebuilt from its `orch_runs` row (a manifest published later never changes it)."""

from __future__ import annotations

from typing import Any

from orchestrator.agents.manifest import BUILTIN_MANIFESTS, AgentManifest
from orchestrator.worker.repository import RunRow

__all__ = ["pinned_manifest"]

_ANY_OBJECT: dict[str, Any] = {"type": "object"}


def pinned_manifest(row: RunRow) -> AgentManifest:
    """`versions` holds what the run pinned (AgentManifest.versions()); the rest comes from the manifest of that name.

    The input was validated against the pinned input schema when the run was created; the graph never reads it.
    """
    versions = row.versions
    builtin = BUILTIN_MANIFESTS.get(row.agent)
    return AgentManifest(
        name=row.agent,
        version=row.agent_version,
        graph=versions.get("graph") or (builtin.graph if builtin else row.agent),
        graph_version=str(versions.get("graph_version") or (builtin.graph_version if builtin else "unknown")),
        prompt_version=str(versions.get("prompt_version") or (builtin.prompt_version if builtin else "unknown")),
        model_alias=row.model_alias,
        tools=dict(versions.get("tools") or (builtin.tools if builtin else {})),
        input_schema=builtin.input_schema if builtin else _ANY_OBJECT,
        durability=builtin.durability if builtin else "sync",
    )
