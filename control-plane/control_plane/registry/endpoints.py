"""`/admin/models`, `/admin/agents`, `/admin/tools`: versioned registries (platform admin only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from aiaas.credential_hosts import PUBLIC_BASE_URLS, CredentialHostError, CredentialHosts
from aiaas.db import admin_session
from aiaas.errors import BadRequest, NotFound, Unprocessable
from aiaas.resilience.failover_budget import FailoverBudget, TimedDeployment
from control_plane.deps import ActorDep, AdminDep, StateDep
from control_plane.registry import repository as repo
from control_plane.registry.publisher import ModelRegistryPublisher
from control_plane.registry.schemas import NAME_PATTERN, DeprecationIn, ModelConfig, SchemaEntryIn

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["registries"], dependencies=[AdminDep])

NamePath = Annotated[str, Path(pattern=NAME_PATTERN)]
VersionQuery = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
_KINDS: dict[str, repo.Registry] = {"agents": "agent_registry", "tools": "tool_registry"}


async def _get(state: StateDep, table: repo.Registry, name: str, version: int | None) -> dict[str, Any]:
    async with admin_session(state.admin_sessions) as session:
        found = await repo.get_version(session, table, name, version)
    if found is None:
        which = f" version {version}" if version is not None else ""
        raise NotFound(f"No '{name}'{which} in the {table.replace('_', ' ')}.", code="not_found")
    return found


@router.get("/models")
async def list_models(state: StateDep) -> dict[str, Any]:
    """The current version of every model alias."""
    async with admin_session(state.admin_sessions) as session:
        return {"data": await repo.list_current(session, "model_registry")}


def _model_publisher(request: Request) -> ModelRegistryPublisher:
    return request.app.state.model_publisher  # type: ignore[no-any-return]


def _check_credential_hosts(body: ModelConfig, hosts: CredentialHosts) -> None:
    """422 for a deployment whose credential may not be sent to its base_url's host (as the gateway would refuse)."""
    for i, dep in enumerate(body.deployments):
        credential = dep.credentials_ref or dep.provider
        url = dep.base_url or PUBLIC_BASE_URLS.get(dep.provider, "")
        try:
            hosts.check(credential, url)
        except CredentialHostError as exc:
            raise Unprocessable(
                f"Deployment '{dep.name}': {exc}.",
                code="credential_host_not_allowed",
                param=f"deployments.{i}.base_url",
            ) from None


def _check_failover_room(body: ModelConfig, budget: FailoverBudget) -> None:
    """422 for timeouts that leave the next deployment no room in the gateways' request deadline."""
    timed = [TimedDeployment(d.name, d.timeout_s, d.first_byte_timeout_s) for d in body.deployments]
    problems = budget.problems(timed)
    if problems:
        first = problems[0]
        raise Unprocessable(
            f"{first.message[0].upper()}{first.message[1:]}.",
            code="no_room_for_failover",
            param=f"deployments.{first.index}.{first.field}",
        )


@router.put("/models/{alias}", status_code=201)
async def put_model(
    request: Request, state: StateDep, alias: NamePath, body: ModelConfig, actor: ActorDep
) -> dict[str, Any]:
    """A new version of the alias's deployments config (active again if it was deprecated or deleted), published.

    The publish runs after the commit: a version that did not commit is never served, and one whose
    publish failed (`"published": false`) reaches KV at the next republish.
    """
    if body.name != alias:
        raise BadRequest("The body's name must equal the alias in the path.", code="name_mismatch", param="name")
    if ".." in alias or alias.endswith("."):
        # The alias is the KV key, a NATS subject token: empty tokens are not valid subjects.
        raise BadRequest("An alias cannot end with '.' or contain '..'.", code="invalid_alias", param="alias")
    _check_credential_hosts(body, CredentialHosts.from_declaration(state.settings.provider_credential_hosts))
    _check_failover_room(body, state.settings.failover_budget)
    async with admin_session(state.admin_sessions) as session:
        row = await repo.append_version(
            session, "model_registry", alias, {"config": body.model_dump(mode="json")}, actor
        )
    return {**row, "published": await _model_publisher(request).publish(row)}


async def _change_status(
    request: Request, state: StateDep, alias: str, actor: str, status: str, replacement: str | None = None
) -> dict[str, Any]:
    """A new version of a live alias with its config and the new status, published like a PUT."""
    async with admin_session(state.admin_sessions) as session:
        current = await repo.get_version(session, "model_registry", alias, None)
        if current is None or current["status"] == "deleted":
            raise NotFound(f"No model alias '{alias}' in the registry.", code="model_not_found", param="alias")
        body = {"config": current["config"], "status": status, "replacement": replacement}
        row = await repo.append_version(session, "model_registry", alias, body, actor)
    return {**row, "published": await _model_publisher(request).publish(row)}


@router.post("/models/{alias}/deprecate", status_code=201)
async def deprecate_model(
    request: Request, state: StateDep, alias: NamePath, body: DeprecationIn, actor: ActorDep
) -> dict[str, Any]:
    """A new version marking the alias deprecated: out of `/v1/models`, requests refused (410) naming a replacement."""
    if body.replacement == alias:
        raise BadRequest("An alias cannot replace itself.", code="invalid_replacement", param="replacement")
    return await _change_status(request, state, alias, actor, "deprecated", body.replacement)


@router.delete("/models/{alias}")
async def delete_model(request: Request, state: StateDep, alias: NamePath, actor: ActorDep) -> dict[str, Any]:
    """A tombstone version: gateways drop the alias (404); the history stays, with who deleted it."""
    return await _change_status(request, state, alias, actor, "deleted")


@router.get("/models/{alias}")
async def get_model(state: StateDep, alias: NamePath, version: VersionQuery = None) -> dict[str, Any]:
    """The current config of an alias, or `?version=n`."""
    return await _get(state, "model_registry", alias, version)


def _schema_routes(kind: str, table: repo.Registry) -> None:
    async def list_entries(state: StateDep) -> dict[str, Any]:
        async with admin_session(state.admin_sessions) as session:
            return {"data": await repo.list_current(session, table)}

    async def put_entry(state: StateDep, name: NamePath, body: SchemaEntryIn, actor: ActorDep) -> dict[str, Any]:
        async with admin_session(state.admin_sessions) as session:
            return await repo.append_version(session, table, name, body.model_dump(), actor)

    async def get_entry(state: StateDep, name: NamePath, version: VersionQuery = None) -> dict[str, Any]:
        return await _get(state, table, name, version)

    router.add_api_route(f"/{kind}", list_entries, methods=["GET"], summary=f"Current {kind}")
    router.add_api_route(
        f"/{kind}/{{name}}", put_entry, methods=["PUT"], status_code=201, summary=f"New {kind} version"
    )
    router.add_api_route(f"/{kind}/{{name}}", get_entry, methods=["GET"], summary=f"One of the {kind}")


for _kind, _table in _KINDS.items():
    _schema_routes(_kind, _table)
