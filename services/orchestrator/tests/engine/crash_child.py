"""A process that executes one run with the test crash point armed (test_crash.py runs it and expects exit 137).

Usage: python crash_child.py '<json: database_url, gateway, toolbox, ingestion, key, crash_at, tenant_id, run_id,
agent, input, flags>'
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import Any

import orjson

from aiaas.checkpoints import checkpoint_pool
from aiaas.db import create_engine, session_factory
from aiaas.tools import ToolAdapter
from orchestrator.agents.manifest import BUILTIN_MANIFESTS
from orchestrator.config import OrchestratorSettings
from orchestrator.engine import Engine, RunSpec
from orchestrator.llm import GatewayLLM
from orchestrator.tools_catalog import base_urls


class _Hooks:
    async def heartbeat(self) -> None:
        return None

    async def status(self, status: str) -> None:
        return None


async def main(args: dict[str, Any]) -> int:
    settings = OrchestratorSettings(
        gateway_url=args["gateway"],
        service_key=args["key"],
        toolbox_url=args["toolbox"],
        ingestion_url=args["ingestion"],
        test_hooks=True,
        test_crash_at=args["crash_at"],
    )
    db = create_engine(args["database_url"], pool_size=2)
    pool = checkpoint_pool(args["database_url"], max_size=2)
    await pool.open(wait=True)
    tools = ToolAdapter(base_urls(toolbox_url=settings.toolbox_url, ingestion_url=settings.ingestion_url))
    llm = GatewayLLM(settings.gateway_url, settings.service_key)
    engine = Engine(sessions=session_factory(db), checkpoints=pool, tools=tools, llm=llm, settings=settings)
    manifest = BUILTIN_MANIFESTS[args["agent"]]
    spec = RunSpec(
        tenant_id=uuid.UUID(args["tenant_id"]),
        run_id=uuid.UUID(args["run_id"]),
        manifest=manifest,
        model_alias=manifest.model_alias,
        seed=7,
        input=args["input"],
        flags=args["flags"],
    )
    outcome = await engine.execute(spec, "start", _Hooks())
    print(outcome.status)  # reached only when the crash point did not fire
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(orjson.loads(sys.argv[1]))))
