"""sim-policy-v1-degraded: the policy's reply, or one seeded mistake at PROVIDER_SIM_DEGRADED_RATE (0.5)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx2
import pytest

from provider_sim.config import Settings
from provider_sim.openai.schemas import ChatCompletionRequest
from provider_sim.rulemodels.policy import draws_mistake
from provider_sim.rulemodels.request import rule_request

HEADERS = {"authorization": "Bearer k"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "orders_get",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "payments_refund",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        },
    },
]
SOURCES = "Cite the passages you used as [n].\n\n[1] Returns are accepted within 30 days.\n\n[2] Parcels ship daily."
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "intent": {"type": "string"}},
    "required": ["answer", "intent"],
}
SEEDS = range(16)


async def choices(client: httpx2.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/chat/completions", json=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    message: dict[str, Any] = response.json()["choices"][0]["message"]
    return message


async def replies(client: httpx2.AsyncClient, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The policy's message and the degraded model's, once per seed."""
    good = await choices(client, {**body, "model": "sim-policy-v1"})
    return good, [await choices(client, {**body, "model": "sim-policy-v1-degraded", "seed": s}) for s in SEEDS]


async def test_wrong_tool_on_some_seeds_same_call_on_the_others(control: httpx2.AsyncClient) -> None:
    body = {"messages": [{"role": "user", "content": "Where is ORD-1234?"}], "tools": TOOLS}
    good, degraded = await replies(control, body)
    assert good["tool_calls"][0]["function"]["name"] == "orders_get"
    names = [d["tool_calls"][0]["function"]["name"] for d in degraded]
    assert 0 < names.count("payments_refund") < len(SEEDS)
    for reply, name in zip(degraded, names, strict=True):
        if name == "orders_get":
            assert reply == good
    again = await choices(control, {**body, "model": "sim-policy-v1-degraded", "seed": 3})
    assert again == degraded[3]  # deterministic for a request + seed


async def test_one_tool_drops_its_required_argument(control: httpx2.AsyncClient) -> None:
    body = {"messages": [{"role": "user", "content": "Where is ORD-1234?"}], "tools": TOOLS[:1]}
    good, degraded = await replies(control, body)
    arguments = [json.loads(d["tool_calls"][0]["function"]["arguments"]) for d in degraded]
    assert json.loads(good["tool_calls"][0]["function"]["arguments"]) == {"order_id": "ORD-1234"}
    assert {json.dumps(a) for a in arguments} == {"{}", '{"order_id": "ORD-1234"}'}


async def test_citations_omitted_on_some_seeds(control: httpx2.AsyncClient) -> None:
    body = {"messages": [{"role": "system", "content": SOURCES}, {"role": "user", "content": "returns?"}]}
    good, degraded = await replies(control, body)
    assert "[1]" in good["content"]
    uncited = [d for d in degraded if not re.search(r"\[\d\]", d["content"])]
    assert 0 < len(uncited) < len(SEEDS)
    assert all(d["content"] == re.sub(r"\s*\[\d\]", "", good["content"]) for d in uncited)


async def test_json_drops_a_required_field_on_some_seeds(control: httpx2.AsyncClient) -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}}
    body = {"messages": [{"role": "user", "content": "Where is ORD-1234?"}], "response_format": response_format}
    good, degraded = await replies(control, body)
    assert set(json.loads(good["content"])) == {"answer", "intent"}
    key_sets = [set(json.loads(d["content"])) for d in degraded]
    assert {"intent"} in key_sets and {"answer", "intent"} in key_sets
    assert set(map(frozenset, key_sets)) == {frozenset({"intent"}), frozenset({"answer", "intent"})}


@pytest.mark.parametrize(("rate", "expected"), [(0.0, 0), (1.0, 40)])
def test_rate_zero_never_errs_and_rate_one_always_does(rate: float, expected: int) -> None:
    def request(seed: int) -> Any:
        raw = {"model": "sim-policy-v1-degraded", "seed": seed, "messages": [{"role": "user", "content": "hi"}]}
        return rule_request(ChatCompletionRequest.model_validate(raw), raw)

    assert sum(draws_mistake(request(seed), rate) for seed in range(40)) == expected


def test_rate_setting_defaults_to_half_and_reads_the_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().degraded_rate == 0.5
    monkeypatch.setenv("PROVIDER_SIM_DEGRADED_RATE", "0.2")
    assert Settings().degraded_rate == 0.2
