"""A run pins the agent's current manifest: the control plane's registry version with a manifest (newest first),
else the built-in agent of that name; the control plane checks manifests with a mirror of `AgentManifest`, kept
the same here."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, get_args

import httpx2
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session
from aiaas_testing import TenantWithKey
from control_plane.registry.manifests import AgentManifestIn
from control_plane.registry.manifests import GraphName as RegistryGraphName
from orchestrator.agents.manifest import OUTPUT_SCHEMA, AgentManifest, GraphName
from orchestrator.engine.build_info import build_info

from .factories import RUNS, create, error

MakeOrchTenant = Callable[[], Awaitable[TenantWithKey]]
_INPUT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["topic"],
    "properties": {"topic": {"type": "string", "enum": ["billing", "shipping"]}},
}


@pytest.fixture
async def client(orch_api: Any) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=orch_api.url, timeout=30) as http:
        yield http


@pytest.fixture
async def agent_name(admin_sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[str]:
    """A unique agent name; its registry versions are deleted after the test (the registry is platform-wide)."""
    name = f"faq-test-{uuid.uuid4().hex[:8]}"
    yield name
    async with admin_session(admin_sessions) as session:
        await session.execute(text("delete from agent_registry where name = :n"), {"n": name})


async def _register(
    admin_sessions: async_sessionmaker[AsyncSession], name: str, version: int, manifest: dict[str, Any] | None
) -> None:
    async with admin_session(admin_sessions) as session:
        await session.execute(
            text(
                "insert into agent_registry (name, version, input_schema, output_schema, manifest, created_by)"
                " values (:n, :v, cast(:i as jsonb), cast(:o as jsonb), cast(:m as jsonb), 'test')"
            ),
            {
                "n": name,
                "v": version,
                "i": orjson.dumps(_INPUT).decode(),
                "o": orjson.dumps(OUTPUT_SCHEMA).decode(),
                "m": None if manifest is None else orjson.dumps(manifest).decode(),
            },
        )


def _manifest(name: str, version: int, alias: str) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "graph": "faq",
        "graph_version": f"faq-v{version}",
        "prompt_version": "faq-prompts-v9",
        "model_alias": alias,
        "tools": {"kb.search": "2"},
        "input_schema": _INPUT,
        "output_schema": OUTPUT_SCHEMA,
        "durability": "exit",
    }


async def test_a_run_pins_the_registrys_newest_manifest(
    client: httpx2.AsyncClient,
    make_orch_tenant: MakeOrchTenant,
    admin_sessions: async_sessionmaker[AsyncSession],
    agent_name: str,
) -> None:
    tenant = await make_orch_tenant()
    body = {"agent": agent_name, "input": {"topic": "billing"}}
    error(await client.post(RUNS, json={**body, "idempotency_key": "k0"}, headers=tenant.auth), 404, "agent_not_found")
    await _register(admin_sessions, agent_name, 1, _manifest(agent_name, 1, "gpt-4o-mini"))
    await _register(admin_sessions, agent_name, 2, _manifest(agent_name, 2, "gpt-4o"))
    await _register(admin_sessions, agent_name, 3, None)  # a later version without a manifest: v2 stays current

    run_id = (await create(client, tenant.auth, {**body, "idempotency_key": "k1"}))["run_id"]
    run = (await client.get(f"{RUNS}/{run_id}", headers=tenant.auth)).json()
    assert (run["agent"], run["agent_version"], run["model_alias"]) == (agent_name, 2, "gpt-4o")
    pinned = dict(run["versions"])
    assert pinned.pop("code_commit")  # the API process's HEAD when it started (tests/api/test_runs.py checks it)
    assert pinned == {
        "agent_version": 2,
        "graph": "faq",
        "graph_version": "faq-v2",
        "prompt_version": "faq-prompts-v9",
        "tools": {"kb.search": "2"},
        "langgraph": build_info()["langgraph"],
    }
    invalid = await client.post(
        RUNS, json={**body, "input": {"topic": "weather"}, "idempotency_key": "k2"}, headers=tenant.auth
    )
    assert error(invalid, 422, "invalid_input")["param"] == "input.topic"
    # The built-in agents answer when the registry has no manifest for them.
    faq = await create(client, tenant.auth, {"agent": "faq", "input": {"question": "q"}, "idempotency_key": "k3"})
    assert (await client.get(f"{RUNS}/{faq['run_id']}", headers=tenant.auth)).json()["model_alias"] == "gpt-4o-mini"


def test_the_control_planes_mirror_has_the_manifests_fields() -> None:
    assert set(AgentManifestIn.model_fields) == set(AgentManifest.model_fields)
    assert get_args(RegistryGraphName) == get_args(GraphName)
    # What the control plane stores (its dump, the registry's version, the entry's schemas) is a valid manifest.
    checked = AgentManifestIn.model_validate(_manifest("faq-x", 1, "gpt-4o")).model_dump(mode="json")
    assert AgentManifest.model_validate({**checked, "version": 4}).version == 4
