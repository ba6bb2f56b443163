"""Which model the agents run: a new version of each agent in the control plane's registry.

That is the production mechanism (`PUT /admin/agents/{name}` with a `manifest`): a new orchestrator run pins the
newest registered manifest, its model alias included (orchestrator.agents.registry). The eval registers the
built-in manifest with the policy model it evaluates (`sim-policy-v1` by default; a variant such as
`sim-policy-v1-degraded` with `--model`), and `--set prompt_version=...` style overrides of the other pinned
fields, on its own throwaway database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from evals.runner.platform import PlatformClient, PlatformError
from orchestrator.agents.manifest import BUILTIN_MANIFESTS

__all__ = ["DEFAULT_MODEL", "OVERRIDABLE", "agent_manifest", "register_agents"]

DEFAULT_MODEL = "sim-policy-v1"
OVERRIDABLE = ("model_alias", "prompt_version", "graph_version")


def agent_manifest(agent: str, overrides: Mapping[str, str]) -> dict[str, Any]:
    """The built-in manifest of `agent` with `overrides` (keys of OVERRIDABLE), as the registry takes it."""
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(f"cannot override {', '.join(unknown)}; only {', '.join(OVERRIDABLE)}")
    builtin = BUILTIN_MANIFESTS.get(agent)
    if builtin is None:
        raise ValueError(f"no built-in agent {agent!r}")
    manifest = builtin.model_dump(mode="json", exclude={"version", "input_schema", "output_schema"})
    manifest.update(overrides)
    return manifest


async def register_agents(
    client: PlatformClient, agents: Iterable[str], overrides: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Register each agent with `overrides`; agent -> the manifest registered."""
    registered = {}
    for agent in sorted(set(agents)):
        builtin = BUILTIN_MANIFESTS[agent]
        manifest = agent_manifest(agent, overrides)
        answer = await client.put_agent(manifest, builtin.input_schema, builtin.output_schema)
        stored = answer.get("manifest") if isinstance(answer, dict) else None
        if not stored or stored.get("model_alias") != manifest["model_alias"]:
            raise PlatformError(f"the registry did not store agent {agent}'s manifest: {answer}")
        registered[agent] = stored
    return registered
