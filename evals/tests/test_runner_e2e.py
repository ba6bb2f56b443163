"""The runner against the real platform (evals.runner.stack: orchestrator API and worker, gateway, simulator,
toolbox, ingestion, control plane on a throwaway database and a private NATS)."""

from __future__ import annotations

import copy
import dataclasses

import aiohttp
import pytest

from aiaas_testing import free_port
from evals.loader import GOLDEN_DIR, GoldenTask, load_task
from evals.runner.agents import register_agents
from evals.runner.platform import PlatformClient
from evals.runner.runner import RunSettings, run_task, run_tasks

SETTINGS = RunSettings(concurrency=4, label="runner-test")


def golden(name: str) -> GoldenTask:
    agent = name.split("-", 1)[0]
    return load_task(GOLDEN_DIR / agent / f"{name}.yaml")


@pytest.fixture
async def client(eval_stack):
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        platform = PlatformClient(eval_stack.urls, http)
        await register_agents(platform, ["faq", "order", "lead"], {"model_alias": "sim-policy-v1"})
        yield platform
        await platform.aclose()


async def test_an_interrupted_order_resumed_with_approval_is_observed_whole(client):
    task = golden("order-over-threshold-approved")
    result = await run_task(client, task, SETTINGS)
    assert result.error is None, result.error
    assert result.failures == [] and result.passed
    assert result.status == "succeeded" and result.run_id
    assert result.tool_calls == 5  # orders.get before the interrupt; reserve, charge, ship, notify after it
    assert result.llm_calls == 0 and result.tokens == 0  # Order calls no model


async def test_each_task_runs_in_a_fresh_tenant_with_its_own_flags_and_seed(client):
    # The same order id in three tasks at once: each tenant's toolbox and lock are its own. The flag task's
    # tenant holds orders over 1000 (its snapshot is checked by the runner); the others keep the 100000 default.
    names = ["order-tenant-threshold-flag", "order-fulfil-small", "order-over-threshold-interrupted"]
    results = await run_tasks(client, [golden(name) for name in names], SETTINGS)
    assert [(r.task_id, r.status, r.error) for r in results] == [
        ("order-tenant-threshold-flag", "interrupted", None),
        ("order-fulfil-small", "succeeded", None),
        ("order-over-threshold-interrupted", "interrupted", None),
    ]
    assert all(r.passed for r in results), [r.failures for r in results]
    assert len({r.run_id for r in results}) == 3


async def test_faq_reads_the_uploaded_knowledge_base_and_its_events(client):
    result = await run_task(client, golden("faq-refund-timing"), SETTINGS)
    assert result.passed, (result.error, result.failures)
    assert (result.llm_calls, result.tool_calls) == (2, 1) and result.tokens > 0


async def test_a_failing_assertion_names_task_path_expected_and_actual(client):
    task = golden("lead-new-demo-request")
    data = copy.deepcopy(task.data)
    data["assert"] = [{"type": "jsonpath", "path": "$.status", "op": "eq", "value": "failed"}]
    result = await run_task(client, dataclasses.replace(task, data=data), SETTINGS)
    assert result.error is None and not result.passed
    assert result.failures == [
        {"task_id": "lead-new-demo-request", "index": 0, "type": "jsonpath", "path": "$.status",
         "expected": "eq 'failed'", "actual": "succeeded", "message": ""}
    ]  # fmt: skip


async def test_a_fixture_the_toolbox_refuses_is_an_error_of_the_task(client):
    task = golden("order-fulfil-small")
    data = copy.deepcopy(task.data)
    data["fixtures"]["toolbox"]["stock"] = [{"sku": "SKU-MUG", "available": -5}]
    result = await run_task(client, dataclasses.replace(task, data=data), SETTINGS)
    assert result.error_kind == "platform" and "toolbox seed: HTTP 422" in (result.error or "")
    assert result.run_id is None  # never started


async def test_an_unreachable_service_is_named(eval_stack):
    urls = dataclasses.replace(eval_stack.urls, control_plane=f"http://127.0.0.1:{free_port()}")
    async with aiohttp.ClientSession() as http:
        result = await run_task(PlatformClient(urls, http), golden("order-fulfil-small"), SETTINGS)
    assert result.error_kind == "unreachable"
    assert "create tenant" in (result.error or "") and "unreachable" in (result.error or "")
