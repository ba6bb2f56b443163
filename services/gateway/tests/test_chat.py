"""The official openai SDK, unchanged, against the gateway: replies, streaming, usage, models."""

from __future__ import annotations

import anthropic
import openai
import pytest

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Tell me about tides."},
]


@pytest.fixture
def sim_openai(sim_url):
    return openai.AsyncOpenAI(base_url=f"{sim_url}/v1", api_key="direct", max_retries=0)


async def test_non_streaming_reply_matches_upstream(client, sim_openai):
    reply = await client.chat.completions.create(model="chat", messages=MESSAGES, max_tokens=50)
    direct = await sim_openai.chat.completions.create(model="sim-chat-a", messages=MESSAGES, max_tokens=50)
    assert reply.choices[0].message.content == direct.choices[0].message.content
    assert reply.choices[0].message.content
    assert reply.usage.prompt_tokens == direct.usage.prompt_tokens > 0
    assert reply.usage.completion_tokens == direct.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


async def test_streaming_reply_equals_non_streaming(client):
    whole = await client.chat.completions.create(model="chat", messages=MESSAGES)
    parts, usage = [], None
    stream = await client.chat.completions.create(
        model="chat", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(parts) == whole.choices[0].message.content
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        whole.usage.prompt_tokens,
        whole.usage.completion_tokens,
    )


async def test_stream_without_include_usage_has_no_usage_chunk(client):
    stream = await client.chat.completions.create(model="chat", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    assert chunks
    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices for chunk in chunks)


async def test_max_tokens_and_stop_are_forwarded(client):
    reply = await client.chat.completions.create(model="chat", messages=MESSAGES, max_tokens=3)
    assert reply.usage.completion_tokens <= 3
    assert reply.choices[0].finish_reason == "length"


async def test_tool_calls_pass_through(client):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    reply = await client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "weather?"}], tools=tools, tool_choice="required"
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert "city" in call.function.arguments
    assert reply.choices[0].finish_reason == "tool_calls"


async def test_models_lists_aliases(client):
    models = await client.models.list()
    ids = {m.id for m in models.data}
    assert {"chat", "claude", "failover"} <= ids


async def test_response_carries_request_id_and_deployment(client):
    raw = await client.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.headers["x-aiaas-deployment"] == "chat-a"


async def test_anthropic_alias_through_openai_interface(client, sim_url):
    direct = anthropic.AsyncAnthropic(base_url=sim_url, api_key="direct", max_retries=0)
    expected = await direct.messages.create(
        model="sim-claude",
        max_tokens=64,
        system="You are terse.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "Tell me about tides."}]}],
    )
    reply = await client.chat.completions.create(model="claude", messages=MESSAGES, max_tokens=64)
    assert reply.choices[0].message.content == expected.content[0].text
    assert reply.usage.prompt_tokens == expected.usage.input_tokens
    assert reply.usage.completion_tokens == expected.usage.output_tokens
    assert reply.choices[0].finish_reason == "stop"

    parts, usage = [], None
    stream = await client.chat.completions.create(
        model="claude", messages=MESSAGES, max_tokens=64, stream=True, stream_options={"include_usage": True}
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(parts) == expected.content[0].text
    assert usage.prompt_tokens == expected.usage.input_tokens
    assert usage.completion_tokens == expected.usage.output_tokens


async def test_anthropic_alias_forwards_temperature_in_the_body(client, sim_url):
    """The anthropic SDK's create() has no temperature argument: it travels in the body (was a 500)."""
    direct = anthropic.AsyncAnthropic(base_url=sim_url, api_key="direct", max_retries=0)
    expected = await direct.messages.create(
        model="sim-claude",
        max_tokens=64,
        system="You are terse.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "Tell me about tides."}]}],
        extra_body={"temperature": 1.0, "top_p": 0.5},
    )
    # OpenAI's range reaches 2; Anthropic's stops at 1, so 1.7 is sent as 1.0.
    reply = await client.chat.completions.create(
        model="claude", messages=MESSAGES, max_tokens=64, temperature=1.7, top_p=0.5
    )
    assert reply.choices[0].message.content == expected.content[0].text
