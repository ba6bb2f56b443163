"""Failover: retries, per-deployment breaker (open, skip, half-open probe, close), stream failover."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import openai
import orjson
import pytest
import yaml

from aiaas.resilience.failover_budget import FailoverBudget

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


async def test_hung_first_deployment_with_default_settings_fails_over_inside_the_deadline(client, sim):
    # The shared gateway runs with the default deadline, timeouts and retries; "hang" sets no timeout_s.
    defaults = FailoverBudget.model_construct()
    await set_fault(sim, "hang-primary", "timeout")
    before = await calls_to(sim, "hang-primary")
    started = time.perf_counter()
    raw = await client.with_options(timeout=120).chat.completions.with_raw_response.create(
        model="hang", messages=MESSAGES
    )
    elapsed = time.perf_counter() - started
    assert raw.headers["x-aiaas-deployment"] == "hang-secondary"
    assert raw.parse().choices[0].message.content
    # One attempt of the default upstream timeout, then the next deployment; a hang is not retried in place.
    assert await calls_to(sim, "hang-primary") == before + 1
    assert await calls_to(sim, "hang-secondary") >= 1
    assert defaults.upstream_timeout_s <= elapsed < defaults.upstream_timeout_s + 5 < defaults.request_deadline_s
    print(f"\nhung primary -> served by secondary after {elapsed:.1f} s (deadline {defaults.request_deadline_s:g} s)")


async def _raw_stream_chunks(gateway_url: str, api_key: str, model: str) -> tuple[int, dict[str, str], list[dict]]:
    """The SSE chunks as the client receives them, [DONE] and error events included."""
    body = {"model": model, "messages": MESSAGES, "stream": True}
    headers = {"Authorization": f"Bearer {api_key}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gateway_url}/v1/chat/completions", json=body, headers=headers) as resp,
    ):
        text = (await resp.read()).decode()
    events = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    chunks = [{"done": True} if e == "[DONE]" else orjson.loads(e) for e in events]
    return resp.status, dict(resp.headers), chunks


async def test_stream_cut_after_its_role_chunk_fails_over_to_one_clean_stream(gateway_url, tenant, sim):
    await set_fault(sim, "cut-primary", "drop_stream", after_tokens=0)  # the role chunk, then the cut
    status, headers, chunks = await _raw_stream_chunks(gateway_url, tenant.api_key, "role-cut")
    assert status == 200
    assert headers["x-aiaas-deployment"] == "cut-secondary"
    assert await calls_to(sim, "cut-primary") >= 1
    assert chunks[-1] == {"done": True}
    assert not any("error" in c for c in chunks), chunks
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    assert sum(1 for d in deltas if "role" in d) == 1, deltas  # no second role chunk from the failed stream
    assert "role" in deltas[0]
    assert "".join(d.get("content") or "" for d in deltas)


async def test_stream_with_no_content_in_its_first_byte_limit_fails_over(gateway_url, tenant, sim):
    # cut-primary's first_byte_timeout_s is 2 s: a stream that answers after 5 s is abandoned for the next one.
    async with sim.post("/_sim/latency", json={"model": "cut-primary", "ttft_ms": 5000}) as resp:
        assert resp.status < 300
    try:
        started = time.perf_counter()
        status, headers, chunks = await _raw_stream_chunks(gateway_url, tenant.api_key, "role-cut")
        elapsed = time.perf_counter() - started
    finally:
        await sim.delete("/_sim/latency")
    assert status == 200 and headers["x-aiaas-deployment"] == "cut-secondary"
    assert 2 <= elapsed < 4.5
    assert chunks[-1] == {"done": True} and not any("error" in c for c in chunks)


def _no_room_models(path, sim_url: str) -> None:
    dep = {"provider": "openai", "base_url": f"{sim_url}/v1", "input_usd_per_1k": "0", "output_usd_per_1k": "0"}
    aliases = [
        {
            "name": "no-room",
            "deployments": [
                {**dep, "name": "slow-a", "model": "a", "timeout_s": 40},
                {**dep, "name": "b", "model": "b"},
            ],
        }
    ]
    path.write_text(yaml.safe_dump({"aliases": aliases}))


def test_a_configuration_without_room_for_failover_does_not_start(run_dir, spawn_gateway, sim_url):
    models = run_dir / "no-room-models.yaml"
    _no_room_models(models, sim_url)
    with pytest.raises(RuntimeError, match="exited early") as info:
        spawn_gateway(name="gateway-no-room", GATEWAY_MODELS_FILE=str(models))
    assert "cannot always fail over inside the deadline" in str(info.value)
    assert "alias 'no-room' deployments.0.timeout_s" in str(info.value)
    assert "'slow-a'" in str(info.value)

    # The defaults too are checked: a default upstream timeout of 40 s leaves no room under a 60 s deadline.
    with pytest.raises(RuntimeError, match="exited early") as info:
        spawn_gateway(name="gateway-no-room-default", GATEWAY_UPSTREAM_TIMEOUT_S="40")
    assert "GATEWAY_UPSTREAM_TIMEOUT_S" in str(info.value)
