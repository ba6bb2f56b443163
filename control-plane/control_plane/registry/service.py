"""The registries' rules: versions appended (never edited), a model alias checked before it is stored, then published.

A model alias's publish runs after its transaction committed: a version that did not commit is never
served, and one whose publish failed (`"published": false`) reaches KV at the next republish. So this
service opens its own transactions instead of taking the request's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.credential_hosts import PUBLIC_BASE_URLS, CredentialHostError, CredentialHosts
from aiaas.db import admin_session
from aiaas.errors import BadRequest, NotFound, Unprocessable
from aiaas.resilience.failover_budget import FailoverBudget, TimedDeployment
from aiaas.storable import storable_json
from control_plane.registry import repository as repo
from control_plane.registry.publisher import ModelRegistryPublisher
from control_plane.registry.schemas import AgentEntryIn, ModelConfig, ToolEntryIn

__all__ = ["RegistryService", "check_credential_hosts", "check_failover_room", "check_manifest"]


def check_manifest(name: str, body: AgentEntryIn | ToolEntryIn) -> dict[str, Any]:
    """The manifest to store: named as the entry (400 `name_mismatch` otherwise), with the entry's I/O schemas (422
    `manifest_schema_mismatch` when it carries others), storable (422)."""
    assert body.manifest is not None
    manifest = body.manifest.model_dump(mode="json", exclude={"version"})
    if manifest["name"] != name:
        raise BadRequest(
            "The manifest's name must equal the name in the path.", code="name_mismatch", param="manifest.name"
        )
    for field in ("input_schema", "output_schema"):
        if manifest.get(field) is not None and manifest[field] != getattr(body, field):
            raise Unprocessable(
                f"The manifest's {field} differs from the entry's; leave it out or send the same.",
                code="manifest_schema_mismatch",
                param=f"manifest.{field}",
            )
        manifest[field] = getattr(body, field)
    try:
        storable_json(manifest)
    except ValueError as exc:
        raise Unprocessable(f"Invalid manifest: {exc}.", code="invalid_manifest", param="manifest") from None
    return manifest


def check_credential_hosts(body: ModelConfig, hosts: CredentialHosts) -> None:
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


def check_failover_room(body: ModelConfig, budget: FailoverBudget) -> None:
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


@dataclass(frozen=True)
class RegistryService:
    """The model, agent and tool registries, on the platform_admin role."""

    sessions: async_sessionmaker[AsyncSession]
    publisher: ModelRegistryPublisher
    credential_hosts: CredentialHosts
    failover_budget: FailoverBudget

    async def current(self, table: repo.Registry) -> list[dict[str, Any]]:
        """The current version of every entry."""
        async with admin_session(self.sessions) as session:
            return await repo.list_current(session, table)

    async def get(self, table: repo.Registry, name: str, version: int | None) -> dict[str, Any]:
        """One version of `name` (the current one when `version` is None); 404 if there is none."""
        async with admin_session(self.sessions) as session:
            found = await repo.get_version(session, table, name, version)
        if found is None:
            which = f" version {version}" if version is not None else ""
            raise NotFound(f"No '{name}'{which} in the {table.replace('_', ' ')}.", code="not_found")
        return found

    async def put_entry(
        self, table: repo.Registry, name: str, body: AgentEntryIn | ToolEntryIn, actor: str
    ) -> dict[str, Any]:
        """A new version of an agent or tool, with its manifest checked against the entry when it has one."""
        entry = body.model_dump(exclude={"manifest"})
        entry["manifest"] = None if body.manifest is None else check_manifest(name, body)
        async with admin_session(self.sessions) as session:
            return await repo.append_version(session, table, name, entry, actor)

    async def put_model(self, alias: str, body: ModelConfig, actor: str) -> dict[str, Any]:
        """A new version of the alias's deployments config (active again if it was deprecated or deleted)."""
        if body.name != alias:
            raise BadRequest("The body's name must equal the alias in the path.", code="name_mismatch", param="name")
        if ".." in alias or alias.endswith("."):
            # The alias is the KV key, a NATS subject token: empty tokens are not valid subjects.
            raise BadRequest("An alias cannot end with '.' or contain '..'.", code="invalid_alias", param="alias")
        check_credential_hosts(body, self.credential_hosts)
        check_failover_room(body, self.failover_budget)
        async with admin_session(self.sessions) as session:
            row = await repo.append_version(
                session, "model_registry", alias, {"config": body.model_dump(mode="json")}, actor
            )
        return {**row, "published": await self.publisher.publish(row)}

    async def change_status(
        self, alias: str, actor: str, status: str, replacement: str | None = None
    ) -> dict[str, Any]:
        """A new version of a live alias with its config and the new status, published like a PUT."""
        if replacement == alias:
            raise BadRequest("An alias cannot replace itself.", code="invalid_replacement", param="replacement")
        async with admin_session(self.sessions) as session:
            current = await repo.get_version(session, "model_registry", alias, None)
            if current is None or current["status"] == "deleted":
                raise NotFound(f"No model alias '{alias}' in the registry.", code="model_not_found", param="alias")
            body = {"config": current["config"], "status": status, "replacement": replacement}
            row = await repo.append_version(session, "model_registry", alias, body, actor)
        return {**row, "published": await self.publisher.publish(row)}
