"""OpenAI chat completions and model list, driven through the official SDK."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest

from provider_sim.textgen import MESSAGE_OVERHEAD_TOKENS, REPLY_PRIMING_TOKENS, count_tokens

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Tell me about rivers, please."},
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "detailed": {"type": "boolean"},
            },
            "required": ["city", "days", "unit"],
        },
    },
}


def expected_prompt_tokens(messages: list[dict[str, str]]) -> int:
    return REPLY_PRIMING_TOKENS + sum(MESSAGE_OVERHEAD_TOKENS + count_tokens(m["content"]) for m in messages)


async def test_reply_is_deterministic_and_usage_adds_up(oai: openai.AsyncOpenAI) -> None:
    first = await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES)
    second = await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES)
    text = first.choices[0].message.content
    assert text and text == second.choices[0].message.content
    assert first.id != second.id
    assert first.object == "chat.completion"
    assert first.model == "sim-gpt-small"
    assert first.choices[0].finish_reason == "stop"
    assert first.choices[0].message.role == "assistant"
    usage = first.usage
    assert usage is not None
    assert usage.prompt_tokens == expected_prompt_tokens(MESSAGES)
    assert usage.completion_tokens == count_tokens(text)
    assert 20 <= usage.completion_tokens <= 60
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_different_prompts_or_models_give_different_replies(oai: openai.AsyncOpenAI) -> None:
    base = await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES)
    other_prompt = await oai.chat.completions.create(
        model="sim-gpt-small", messages=[{"role": "user", "content": "Something else entirely"}]
    )
    other_model = await oai.chat.completions.create(model="sim-gpt-large", messages=MESSAGES)
    texts = {base.choices[0].message.content, other_prompt.choices[0].message.content}
    texts.add(other_model.choices[0].message.content)
    assert len(texts) == 3


async def test_stream_concatenates_to_the_non_streaming_reply(oai: openai.AsyncOpenAI) -> None:
    plain = await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES)
    stream = await oai.chat.completions.create(
        model="sim-gpt-small", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    content_chunks = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(content_chunks) == plain.choices[0].message.content
    assert plain.usage is not None
    assert len(content_chunks) == plain.usage.completion_tokens
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.model_dump() == plain.usage.model_dump()
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1


async def test_stream_without_include_usage_sends_no_usage_and_ends_with_done(
    control: httpx2.AsyncClient,
) -> None:
    body = {"model": "sim-gpt-small", "messages": MESSAGES, "stream": True}
    response = await control.post("/v1/chat/completions", json=body, headers={"authorization": "Bearer k"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in response.text.split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    payloads = [json.loads(f.removeprefix("data: ")) for f in frames[:-1]]
    assert all("usage" not in p for p in payloads)
    assert payloads[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("cap_field", ["max_tokens", "max_completion_tokens"])
async def test_token_cap_truncates_with_finish_reason_length(oai: openai.AsyncOpenAI, cap_field: str) -> None:
    full = await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES)
    capped = await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES, **{cap_field: 5})
    assert capped.choices[0].finish_reason == "length"
    assert capped.usage is not None and capped.usage.completion_tokens == 5
    text = capped.choices[0].message.content
    assert text and full.choices[0].message.content.startswith(text)
    assert count_tokens(text) == 5


async def test_stream_respects_token_cap(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="sim-gpt-small",
        messages=MESSAGES,
        max_tokens=3,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    contents = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(contents) == 3
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


async def test_stop_sequence_cuts_the_reply_before_it(oai: openai.AsyncOpenAI) -> None:
    full = await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES)
    full_text = full.choices[0].message.content
    assert full_text
    stop_word = full_text.split()[3]
    cut = await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES, stop=[stop_word, "zzz"])
    text = cut.choices[0].message.content
    assert text == full_text[: full_text.index(stop_word)]
    assert stop_word not in text
    assert cut.choices[0].finish_reason == "stop"
    assert cut.usage is not None and cut.usage.completion_tokens == count_tokens(text)
    stream = await oai.chat.completions.create(model="sim-gpt-small", messages=MESSAGES, stop=stop_word, stream=True)
    streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert streamed == text


async def test_tool_call_when_user_names_the_function(oai: openai.AsyncOpenAI) -> None:
    messages = [{"role": "user", "content": "Please use get_weather for Paris"}]
    first = await oai.chat.completions.create(model="sim-gpt-small", messages=messages, tools=[WEATHER_TOOL])
    second = await oai.chat.completions.create(model="sim-gpt-small", messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert call.id.startswith("call_") and call.id == second.choices[0].message.tool_calls[0].id
    arguments = json.loads(call.function.arguments)
    assert set(arguments) == {"city", "days", "unit"}
    assert isinstance(arguments["city"], str) and arguments["city"]
    assert isinstance(arguments["days"], int) and 1 <= arguments["days"] <= 7
    assert arguments["unit"] in ("celsius", "fahrenheit")
    assert first.usage is not None
    assert first.usage.completion_tokens == count_tokens("get_weather") + count_tokens(call.function.arguments)
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens


async def test_tool_choice_modes(oai: openai.AsyncOpenAI) -> None:
    messages = [{"role": "user", "content": "What is the weather like?"}]
    auto = await oai.chat.completions.create(model="sim-gpt-small", messages=messages, tools=[WEATHER_TOOL])
    assert auto.choices[0].finish_reason == "stop" and auto.choices[0].message.tool_calls is None
    required = await oai.chat.completions.create(
        model="sim-gpt-small", messages=messages, tools=[WEATHER_TOOL], tool_choice="required"
    )
    assert required.choices[0].message.tool_calls[0].function.name == "get_weather"
    named = await oai.chat.completions.create(
        model="sim-gpt-small",
        messages=messages,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert named.choices[0].finish_reason == "tool_calls"
    none = await oai.chat.completions.create(
        model="sim-gpt-small",
        messages=[{"role": "user", "content": "use get_weather"}],
        tools=[WEATHER_TOOL],
        tool_choice="none",
    )
    assert none.choices[0].message.tool_calls is None and none.choices[0].message.content


async def test_tool_result_turn_is_answered_with_text(oai: openai.AsyncOpenAI) -> None:
    messages = [
        {"role": "user", "content": "Use get_weather for Oslo"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"},
    ]
    reply = await oai.chat.completions.create(model="sim-gpt-small", messages=messages, tools=[WEATHER_TOOL])
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content


async def test_streamed_tool_call_deltas_rebuild_the_call(oai: openai.AsyncOpenAI) -> None:
    messages = [{"role": "user", "content": "get_weather in Rome"}]
    plain = await oai.chat.completions.create(model="sim-gpt-small", messages=messages, tools=[WEATHER_TOOL])
    stream = await oai.chat.completions.create(
        model="sim-gpt-small", messages=messages, tools=[WEATHER_TOOL], stream=True
    )
    chunks = [c async for c in stream]
    head = chunks[0].choices[0].delta.tool_calls[0]
    assert head.index == 0 and head.function.name == "get_weather"
    arguments = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or "" for c in chunks if c.choices[0].delta.tool_calls
    )
    expected = plain.choices[0].message.tool_calls[0]
    assert head.id == expected.id
    assert arguments == expected.function.arguments
    assert json.loads(arguments).keys() == {"city", "days", "unit"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_list_content_parts_are_counted(oai: openai.AsyncOpenAI) -> None:
    parts = [{"type": "text", "text": "first part"}, {"type": "text", "text": "second, part"}]
    reply = await oai.chat.completions.create(model="m", messages=[{"role": "user", "content": parts}])
    assert reply.usage is not None
    expected = REPLY_PRIMING_TOKENS + MESSAGE_OVERHEAD_TOKENS + count_tokens("first part\nsecond, part")
    assert reply.usage.prompt_tokens == expected


async def test_models_list_has_defaults_and_configured(oai: openai.AsyncOpenAI) -> None:
    models = [model.id async for model in oai.models.list()]
    assert models[:3] == ["sim-gpt-small", "sim-gpt-large", "sim-claude"]
    assert {"sim-broken", "sim-slow", "sim-short"} <= set(models)
    retrieved = await oai.models.retrieve("anything-goes")
    assert retrieved.id == "anything-goes" and retrieved.object == "model"


async def test_missing_key_is_401_in_openai_shape(control: httpx2.AsyncClient, sim_url: str) -> None:
    response = await control.post("/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
    client = openai.AsyncOpenAI(
        base_url=f"{sim_url}/v1", api_key="x", max_retries=0, default_headers={"Authorization": "Basic eA=="}
    )
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(model="m", messages=MESSAGES)
    await client.close()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": MESSAGES}, "model"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"model": "m", "messages": MESSAGES, "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "messages": MESSAGES, "temperature": 3}, "temperature"),
        ({"model": "m", "messages": MESSAGES, "stream_options": {"include_usage": True}}, None),
        ({"model": "m", "messages": MESSAGES, "tool_choice": "required"}, None),
    ],
)
async def test_bad_body_is_400_in_openai_shape(
    control: httpx2.AsyncClient, body: dict[str, object], param: str | None
) -> None:
    response = await control.post("/v1/chat/completions", json=body, headers={"authorization": "Bearer k"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    if param is not None:
        assert error["param"] == param


async def test_malformed_json_is_400(control: httpx2.AsyncClient, oai: openai.AsyncOpenAI) -> None:
    response = await control.post("/v1/chat/completions", content=b"{not json", headers={"authorization": "Bearer k"})
    assert response.status_code == 400
    assert "parse the JSON body" in response.json()["error"]["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        await oai.chat.completions.create(model="m", messages=[{"role": "user"}])  # type: ignore[typeddict-item]
    assert caught.value.status_code == 400
