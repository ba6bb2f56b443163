"""Fault injection (control API, request headers, model config) as the official SDKs see it."""

from __future__ import annotations

import time

import anthropic
import httpx2
import openai
import pytest

MESSAGES = [{"role": "user", "content": "Tell me a story about a lighthouse."}]
# The OpenAI SDK wraps a cut stream in APIConnectionError; the Anthropic SDK lets httpx's error through.
ANTHROPIC_DROP_ERRORS = (anthropic.APIConnectionError, httpx2.RemoteProtocolError)


async def add_fault(control: httpx2.AsyncClient, **rule: object) -> dict[str, object]:
    response = await control.post("/_sim/faults", json=rule)
    assert response.status_code == 201, response.text
    return response.json()


async def test_429_once_then_recovers(control: httpx2.AsyncClient, oai: openai.AsyncOpenAI) -> None:
    await add_fault(control, model="sim-gpt-small", fault="429", count=1)
    with pytest.raises(openai.RateLimitError) as caught:
        await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES)
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["code"] == "rate_limit_exceeded"  # type: ignore[index]
    ok = await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES)
    assert ok.choices[0].message.content
    assert (await control.get("/_sim/faults")).json() == {"faults": []}


async def test_count_and_model_scoping(control: httpx2.AsyncClient, oai: openai.AsyncOpenAI) -> None:
    await add_fault(control, model="primary", fault="500", count=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as caught:
            await oai.chat.completions.create(model="primary", messages=MESSAGES)
        assert caught.value.status_code == 500
    other = await oai.chat.completions.create(model="secondary", messages=MESSAGES)
    assert other.choices[0].message.content
    recovered = await oai.chat.completions.create(model="primary", messages=MESSAGES)
    assert recovered.choices[0].finish_reason == "stop"
    models = (await control.get("/_sim/stats")).json()["models"]
    assert models["primary"]["outcomes"] == {"fault_500": 2, "ok": 1}
    assert models["secondary"]["outcomes"] == {"ok": 1}


async def test_a_rule_on_text_fails_only_the_questions_that_contain_it(
    control: httpx2.AsyncClient, oai: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic
) -> None:
    """A model that fails on one kind of question (deterministic by content) and answers the rest."""
    await add_fault(control, model="*", fault="500", when_text_contains="SOLVE the equation")
    math = [{"role": "user", "content": "Please solve the equation 2x + 3 = 9."}]
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await oai.chat.completions.create(model="primary", messages=math)
    with pytest.raises(anthropic.InternalServerError):
        await claude.messages.create(model="sim-claude", max_tokens=16, messages=math)
    poem = await oai.chat.completions.create(model="primary", messages=MESSAGES)
    assert poem.choices[0].finish_reason == "stop"
    rules = (await control.get("/_sim/faults")).json()["faults"]
    assert [rule["when_text_contains"] for rule in rules] == ["SOLVE the equation"]  # until cleared
    assert (await control.delete("/_sim/faults")).json() == {"cleared": 1}


async def test_wildcard_until_cleared(control: httpx2.AsyncClient, claude: anthropic.AsyncAnthropic) -> None:
    await add_fault(control, fault="500")
    for model in ("a", "b", "c"):
        with pytest.raises(anthropic.InternalServerError) as caught:
            await claude.messages.create(model=model, max_tokens=10, messages=MESSAGES)
        assert caught.value.status_code == 500
        assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert (await control.delete("/_sim/faults")).json() == {"cleared": 1}
    reply = await claude.messages.create(model="a", max_tokens=10, messages=MESSAGES)
    assert reply.stop_reason in ("end_turn", "max_tokens")


async def test_529_is_overloaded_for_anthropic_and_503_for_openai(
    control: httpx2.AsyncClient, claude: anthropic.AsyncAnthropic, oai: openai.AsyncOpenAI
) -> None:
    await add_fault(control, fault="529", count=2)
    with pytest.raises(anthropic.InternalServerError) as anthropic_error:
        await claude.messages.create(model="sim-claude", max_tokens=10, messages=MESSAGES)
    assert anthropic_error.value.status_code == 529
    assert isinstance(anthropic_error.value, anthropic.OverloadedError)
    assert anthropic_error.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    with pytest.raises(openai.InternalServerError) as openai_error:
        await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES)
    assert openai_error.value.status_code == 503


async def test_anthropic_rate_limit_shape(control: httpx2.AsyncClient, claude: anthropic.AsyncAnthropic) -> None:
    await add_fault(control, model="sim-claude", fault="429", count=1)
    with pytest.raises(anthropic.RateLimitError) as caught:
        await claude.messages.create(model="sim-claude", max_tokens=10, messages=MESSAGES, stream=True)
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["type"] == "error"  # type: ignore[index]
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


async def test_timeout_holds_until_client_gives_up(control: httpx2.AsyncClient, sim_url: str) -> None:
    await add_fault(control, model="sim-gpt-small", fault="timeout", count=1)
    client = openai.AsyncOpenAI(base_url=f"{sim_url}/v1", api_key="x", max_retries=0, timeout=0.4)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="sim-gpt-small", messages=MESSAGES)
    assert 0.35 < time.monotonic() - started < 2
    await client.close()
    stats = (await control.get("/_sim/stats")).json()
    assert stats["models"]["sim-gpt-small"]["outcomes"] == {"fault_timeout": 1}


async def test_anthropic_timeout(control: httpx2.AsyncClient, sim_url: str) -> None:
    await add_fault(control, model="sim-claude", fault="timeout", count=1)
    client = anthropic.AsyncAnthropic(base_url=sim_url, api_key="x", max_retries=0, timeout=0.3)
    with pytest.raises(anthropic.APITimeoutError):
        await client.messages.create(model="sim-claude", max_tokens=10, messages=MESSAGES)
    await client.close()


async def test_openai_stream_drops_after_k_chunks(control: httpx2.AsyncClient, oai: openai.AsyncOpenAI) -> None:
    await add_fault(control, model="sim-gpt-small", fault="drop_stream", count=1, after_tokens=3)
    received: list[str] = []
    stream = await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    full = await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES)
    assert len(received) == 3
    assert full.choices[0].message.content.startswith("".join(received))


async def test_anthropic_stream_drops_without_message_stop(
    control: httpx2.AsyncClient, claude: anthropic.AsyncAnthropic
) -> None:
    await add_fault(control, model="sim-claude", fault="drop_stream", count=1)  # default: 2 chunks
    seen: list[str] = []
    stream = await claude.messages.create(model="sim-claude", max_tokens=100, messages=MESSAGES, stream=True)
    with pytest.raises(ANTHROPIC_DROP_ERRORS):
        async for event in stream:
            seen.append(event.type)
    assert seen == ["message_start", "content_block_start", "content_block_delta", "content_block_delta"]


async def test_non_streaming_drop_is_a_connection_error(
    control: httpx2.AsyncClient, oai: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic
) -> None:
    await add_fault(control, fault="drop_stream", count=3)
    with pytest.raises(openai.APIConnectionError):
        await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES)
    with pytest.raises(anthropic.APIConnectionError):
        await claude.messages.create(model="sim-claude", max_tokens=20, messages=MESSAGES)
    with pytest.raises(openai.APIConnectionError):
        await oai.embeddings.create(model="sim-embedding", input="hello")


async def test_embeddings_fault(control: httpx2.AsyncClient, oai: openai.AsyncOpenAI) -> None:
    await add_fault(control, model="sim-embedding", fault="429", count=1)
    with pytest.raises(openai.RateLimitError):
        await oai.embeddings.create(model="sim-embedding", input="hello")
    assert (await oai.embeddings.create(model="sim-embedding", input="hello")).data


async def test_fault_header_overrides_everything(control: httpx2.AsyncClient, oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        await oai.chat.completions.create(
            model="sim-gpt-small", messages=MESSAGES, extra_headers={"x-sim-fault": "429"}
        )
    stream = await oai.chat.completions.create(
        model="sim-gpt-small",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-sim-fault": "drop_stream", "x-sim-fault-after-tokens": "1"},
    )
    contents: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                contents.append(chunk.choices[0].delta.content)
    assert len(contents) == 1
    with pytest.raises(openai.BadRequestError) as caught:
        await oai.chat.completions.create(
            model="sim-gpt-small", messages=MESSAGES, extra_headers={"x-sim-fault": "teapot"}
        )
    assert caught.value.body["param"] == "x-sim-fault"  # type: ignore[index]


async def test_latency_headers(oai: openai.AsyncOpenAI) -> None:
    started = time.monotonic()
    await oai.chat.completions.create(model="m", messages=MESSAGES, extra_headers={"x-sim-ttft-ms": "250"})
    assert time.monotonic() - started >= 0.25
    stream = await oai.chat.completions.create(
        model="m", messages=MESSAGES, max_tokens=6, stream=True, extra_headers={"x-sim-token-delay-ms": "40"}
    )
    arrivals = [time.monotonic() async for c in stream if c.choices and c.choices[0].delta.content]
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    assert len(gaps) == 5 and min(gaps) >= 0.03
    with pytest.raises(openai.BadRequestError):
        await oai.chat.completions.create(model="m", messages=MESSAGES, extra_headers={"x-sim-ttft-ms": "soon"})


async def test_configured_models(oai: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(openai.InternalServerError):
        await oai.chat.completions.create(model="sim-broken", messages=MESSAGES)
    started = time.monotonic()
    await claude.messages.create(model="sim-slow", max_tokens=5, messages=MESSAGES)
    assert time.monotonic() - started >= 0.3
    short = await oai.chat.completions.create(model="sim-short", messages=MESSAGES)
    assert short.usage is not None and short.usage.completion_tokens == 5
    stream = await oai.chat.completions.create(model="sim-dropper", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIConnectionError):
        async for _ in stream:
            pass
