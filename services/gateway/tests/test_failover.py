"""Failover: retries, per-deployment breaker (open, skip, half-open probe, close), stream failover."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import openai
import pytest

MESSAGES = [{"role": "user", "content": "failover please"}]


@pytest.fixture
async def sim(sim_url):
    async with aiohttp.ClientSession(base_url=sim_url) as http:
        await http.delete("/_sim/faults")
        yield http
        await http.delete("/_sim/faults")


async def set_fault(sim, model: str, fault: str, **extra) -> None:
    async with sim.post("/_sim/faults", json={"model": model, "fault": fault, **extra}) as resp:
        assert resp.status < 300, await resp.text()


async def calls_to(sim, model: str) -> int:
    async with sim.get("/_sim/stats") as resp:
        stats = await resp.json()
    return int(stats["models"].get(model, {}).get("requests", 0))


async def test_primary_500_fails_over_then_breaker_opens_then_probe_closes(client, sim):
    await set_fault(sim, "fo-primary", "500")
    started = time.perf_counter()
    raw = await client.chat.completions.with_raw_response.create(model="failover", messages=MESSAGES)
    fault_to_reply_ms = (time.perf_counter() - started) * 1000
    assert raw.headers["x-aiaas-deployment"] == "fo-secondary"
    assert raw.parse().choices[0].message.content
    print(f"\nfault -> served reply from secondary: {fault_to_reply_ms:.1f} ms")

    # Threshold is 3 failures: the first request made 2 attempts; one more request opens it.
    await client.chat.completions.create(model="failover", messages=MESSAGES)
    before = await calls_to(sim, "fo-primary")
    for _ in range(5):
        raw = await client.chat.completions.with_raw_response.create(model="failover", messages=MESSAGES)
        assert raw.headers["x-aiaas-deployment"] == "fo-secondary"
    assert await calls_to(sim, "fo-primary") == before, "open breaker must skip the primary"

    # Heal the primary; after the 1 s cool-down one probe goes through and closes the breaker.
    await sim.delete("/_sim/faults")
    await asyncio.sleep(1.2)
    raw = await client.chat.completions.with_raw_response.create(model="failover", messages=MESSAGES)
    assert raw.headers["x-aiaas-deployment"] == "fo-primary"
    assert await calls_to(sim, "fo-primary") == before + 1
    raw = await client.chat.completions.with_raw_response.create(model="failover", messages=MESSAGES)
    assert raw.headers["x-aiaas-deployment"] == "fo-primary"


async def test_timeout_fails_over_within_the_deployment_timeout(client, sim):
    await set_fault(sim, "slow-primary", "timeout")
    started = time.perf_counter()
    raw = await client.chat.completions.with_raw_response.create(model="slow", messages=MESSAGES)
    elapsed = time.perf_counter() - started
    assert raw.headers["x-aiaas-deployment"] == "slow-secondary"
    print(f"\ntimeout fault -> served reply from secondary: {elapsed * 1000:.0f} ms")
    assert elapsed < 5


async def test_transient_429_is_retried_on_the_same_deployment(client, sim):
    await set_fault(sim, "sim-chat-a", "429", count=1)
    raw = await client.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
    assert raw.headers["x-aiaas-deployment"] == "chat-a"


async def test_stream_failing_before_first_token_fails_over(client, sim):
    await set_fault(sim, "drop-primary", "500")
    stream = await client.chat.completions.with_raw_response.create(model="stream-drop", messages=MESSAGES, stream=True)
    assert stream.headers["x-aiaas-deployment"] == "drop-secondary"
    text = "".join([c.choices[0].delta.content or "" async for c in stream.parse() if c.choices])
    assert text


async def test_stream_failing_after_first_token_ends_with_error_event(client, sim):
    await set_fault(sim, "drop-primary", "drop_stream", after_tokens=3)
    stream = await client.chat.completions.create(model="stream-drop", messages=MESSAGES, stream=True)
    received = 0
    with pytest.raises(openai.APIError, match="upstream stream failed"):
        async for _chunk in stream:
            received += 1
    assert received >= 1


async def test_all_deployments_down_is_a_clean_5xx(client, sim):
    await set_fault(sim, "fo-primary", "500")
    await set_fault(sim, "fo-secondary", "500")
    with pytest.raises(openai.APIStatusError) as info:
        await client.chat.completions.create(model="failover", messages=MESSAGES)
    assert info.value.status_code in (502, 503)
    assert info.value.body["code"] in ("upstream_error", "no_deployment_available")
