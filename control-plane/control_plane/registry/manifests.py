"""Manifests a registry version may carry (migration 0030_registry_manifests), checked before they are stored.

- An agent's: the orchestrator's `AgentManifest` (services/orchestrator/orchestrator/agents/manifest.py), read by
  its API when a run starts. The fields are mirrored here, not imported (the control plane's image does not carry
  the orchestrator); a test of the orchestrator keeps the two the same. The registry numbers the versions: a
  manifest's `version` is the registry version it is stored as (anything sent is replaced), and its I/O schemas
  are the entry's own `input_schema`/`output_schema` (sending others is a 422).
- A tool's: the tool adapter's `aiaas.tools.ToolManifest` (dependency, method, path, side effect, limits).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aiaas.storable import StorableStr
from aiaas.tools import ToolManifest

__all__ = ["AgentManifestIn", "GraphName", "ToolManifest"]

# The graphs the orchestrator has (orchestrator.agents.manifest.GraphName).
GraphName = Literal["faq", "order", "lead"]
_Version = Annotated[StorableStr, Field(min_length=1, max_length=100)]


class AgentManifestIn(BaseModel):
    """One version of an agent: its graph, pinned graph/prompt/tool versions, model alias, checkpoint durability."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")
    version: int | None = Field(None, ge=1, description="Ignored: the registry version the manifest is stored as")
    graph: GraphName
    graph_version: _Version
    prompt_version: _Version
    model_alias: Annotated[StorableStr, Field(min_length=1, max_length=200)]
    tools: dict[Annotated[StorableStr, Field(min_length=1, max_length=128)], _Version] = Field(
        default_factory=dict, description="Each tool the graph may call -> the tool manifest version it pins"
    )
    input_schema: dict[str, Any] | None = Field(None, description="The entry's input_schema (the same, or left out)")
    output_schema: dict[str, Any] | None = Field(None, description="The entry's output_schema (the same, or left out)")
    durability: Literal["sync", "exit"] = "sync"
