"""The /_sim control API: fault rules, latency overrides, stats and reset."""

from __future__ import annotations

import time

import anthropic
import httpx2
import openai

MESSAGES = [{"role": "user", "content": "ping"}]


async def test_health(control: httpx2.AsyncClient) -> None:
    response = await control.get("/health")
    assert response.json() == {"status": "ok", "models": 11}  # 4 defaults, 3 rule models, 4 configured


async def test_stats_count_models_endpoints_outcomes_and_tokens(
    control: httpx2.AsyncClient, oai: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic
) -> None:
    first = await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES)
    stream = await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES, stream=True)
    async for _ in stream:
        pass
    message = await claude.messages.create(model="sim-claude", max_tokens=50, messages=MESSAGES)
    await control.post("/v1/chat/completions", json={"model": "sim-gpt-small"}, headers={"authorization": "Bearer k"})
    await control.post("/v1/chat/completions", json={"model": "sim-gpt-small", "messages": MESSAGES})
    stats = (await control.get("/_sim/stats")).json()
    assert stats["total_requests"] == 5
    assert stats["endpoints"] == {"openai.chat.completions": 4, "anthropic.messages": 1}
    small = stats["models"]["sim-gpt-small"]
    assert small["requests"] == 3 and small["streaming_requests"] == 1
    assert small["outcomes"] == {"ok": 2, "bad_request": 1}
    # Authentication is checked before the body is read, so the model is not known yet.
    assert stats["models"]["_unknown"]["outcomes"] == {"unauthorized": 1}
    assert first.usage is not None
    assert small["prompt_tokens"] == 2 * first.usage.prompt_tokens
    assert small["completion_tokens"] == 2 * first.usage.completion_tokens
    claude_stats = stats["models"]["sim-claude"]
    assert claude_stats["outcomes"] == {"ok": 1}
    assert claude_stats["completion_tokens"] == message.usage.output_tokens


async def test_fault_rules_are_listed_and_cleared_per_model(control: httpx2.AsyncClient) -> None:
    first = (await control.post("/_sim/faults", json={"model": "a", "fault": "429", "count": 3})).json()
    await control.post("/_sim/faults", json={"model": "b", "fault": "drop_stream"})
    assert first == {
        "id": first["id"],
        "model": "a",
        "fault": "429",
        "remaining": 3,
        "after_tokens": 2,
        "when_text_contains": None,
    }
    listed = (await control.get("/_sim/faults")).json()["faults"]
    assert [(r["model"], r["fault"], r["remaining"]) for r in listed] == [
        ("a", "429", 3),
        ("b", "drop_stream", None),
    ]
    assert (await control.delete("/_sim/faults", params={"model": "a"})).json() == {"cleared": 1}
    assert [r["model"] for r in (await control.get("/_sim/faults")).json()["faults"]] == ["b"]


async def test_invalid_fault_rule_is_422(control: httpx2.AsyncClient) -> None:
    for body in ({"fault": "418"}, {"fault": "500", "count": 0}, {"model": "", "fault": "500"}, {}):
        response = await control.post("/_sim/faults", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["message"]


async def test_latency_override_and_clear(control: httpx2.AsyncClient, oai: openai.AsyncOpenAI) -> None:
    response = await control.post("/_sim/latency", json={"model": "lagging", "ttft_ms": 200})
    assert response.json() == {"model": "lagging", "ttft_ms": 200.0, "token_delay_ms": 0.0}
    started = time.monotonic()
    await oai.chat.completions.create(model="lagging", messages=MESSAGES)
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    await oai.chat.completions.create(model="lagging", messages=MESSAGES, extra_headers={"x-sim-ttft-ms": "0"})
    assert time.monotonic() - started < 0.2
    assert (await control.delete("/_sim/latency")).json() == {"cleared": 1}


async def test_reset_clears_rules_latency_and_counters(control: httpx2.AsyncClient, oai: openai.AsyncOpenAI) -> None:
    await control.post("/_sim/faults", json={"fault": "500"})
    await control.post("/_sim/latency", json={"ttft_ms": 5000})
    assert (await control.post("/_sim/reset")).json() == {"reset": True}
    started = time.monotonic()
    reply = await oai.chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].message.content and time.monotonic() - started < 1
    stats = (await control.get("/_sim/stats")).json()
    assert stats["total_requests"] == 1 and stats["models"]["m"]["outcomes"] == {"ok": 1}
