"""`/admin/models`, `/admin/agents`, `/admin/tools`: versioned registries (platform admin only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from aiaas.auth import AdminDep, AdminPrincipalDep
from control_plane.registry import repository as repo
from control_plane.registry.schemas import NAME_PATTERN, AgentEntryIn, DeprecationIn, ModelConfig, ToolEntryIn
from control_plane.state import StateDep

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["registries"], dependencies=[AdminDep])

NamePath = Annotated[str, Path(pattern=NAME_PATTERN)]
VersionQuery = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
_KINDS: dict[str, repo.Registry] = {"agents": "agent_registry", "tools": "tool_registry"}


@router.get("/models")
async def list_models(state: StateDep) -> dict[str, Any]:
    """The current version of every model alias."""
    return {"data": await state.registry.current("model_registry")}


@router.put("/models/{alias}", status_code=201)
async def put_model(state: StateDep, alias: NamePath, body: ModelConfig, admin: AdminPrincipalDep) -> dict[str, Any]:
    """A new version of the alias's deployments config (active again if it was deprecated or deleted), published.

    The publish runs after the commit: a version that did not commit is never served, and one whose
    publish failed (`"published": false`) reaches KV at the next republish.
    """
    return await state.registry.put_model(alias, body, admin.name)


@router.post("/models/{alias}/deprecate", status_code=201)
async def deprecate_model(
    state: StateDep, alias: NamePath, body: DeprecationIn, admin: AdminPrincipalDep
) -> dict[str, Any]:
    """A new version marking the alias deprecated: out of `/v1/models`, requests refused (410) naming a replacement."""
    return await state.registry.change_status(alias, admin.name, "deprecated", body.replacement)


@router.delete("/models/{alias}")
async def delete_model(state: StateDep, alias: NamePath, admin: AdminPrincipalDep) -> dict[str, Any]:
    """A tombstone version: gateways drop the alias (404); the history stays, with who deleted it."""
    return await state.registry.change_status(alias, admin.name, "deleted")


@router.get("/models/{alias}")
async def get_model(state: StateDep, alias: NamePath, version: VersionQuery = None) -> dict[str, Any]:
    """The current config of an alias, or `?version=n`."""
    return await state.registry.get("model_registry", alias, version)


@router.put("/agents/{name}", status_code=201, summary="New agents version")
async def put_agent(state: StateDep, name: NamePath, body: AgentEntryIn, admin: AdminPrincipalDep) -> dict[str, Any]:
    """A new version of the agent; with a `manifest` (graph, pinned versions, model alias) new orchestrator runs of
    the agent pin it, numbered as this version and with this entry's I/O schemas."""
    return await state.registry.put_entry("agent_registry", name, body, admin.name)


@router.put("/tools/{name}", status_code=201, summary="New tools version")
async def put_tool(state: StateDep, name: NamePath, body: ToolEntryIn, admin: AdminPrincipalDep) -> dict[str, Any]:
    """A new version of the tool; with a `manifest`, how the tool adapter calls it (dependency, path, limits)."""
    return await state.registry.put_entry("tool_registry", name, body, admin.name)


def _schema_routes(kind: str, table: repo.Registry) -> None:
    async def list_entries(state: StateDep) -> dict[str, Any]:
        return {"data": await state.registry.current(table)}

    async def get_entry(state: StateDep, name: NamePath, version: VersionQuery = None) -> dict[str, Any]:
        return await state.registry.get(table, name, version)

    router.add_api_route(f"/{kind}", list_entries, methods=["GET"], summary=f"Current {kind}")
    router.add_api_route(f"/{kind}/{{name}}", get_entry, methods=["GET"], summary=f"One of the {kind}")


for _kind, _table in _KINDS.items():
    _schema_routes(_kind, _table)
