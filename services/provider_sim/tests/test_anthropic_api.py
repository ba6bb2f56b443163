"""Anthropic messages, plain and streamed, driven through the official SDK."""

from __future__ import annotations

import anthropic
import httpx2
import pytest

from provider_sim.textgen import MESSAGE_OVERHEAD_TOKENS, REPLY_PRIMING_TOKENS, count_tokens

MESSAGES = [{"role": "user", "content": "Describe a quiet harbor at dawn."}]
SYSTEM = "You are a poet."
HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}

LOOKUP_TOOL = {
    "name": "lookup_order",
    "description": "Find an order",
    "input_schema": {
        "type": "object",
        "properties": {
            "order_id": {"type": "string"},
            "include_items": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["order_id", "tags"],
    },
}

RAW_EVENT_ORDER_HEAD = ["message_start", "content_block_start"]
RAW_EVENT_ORDER_TAIL = ["content_block_stop", "message_delta", "message_stop"]


async def test_message_is_deterministic_with_exact_usage(claude: anthropic.AsyncAnthropic) -> None:
    first = await claude.messages.create(model="sim-claude", max_tokens=200, system=SYSTEM, messages=MESSAGES)
    second = await claude.messages.create(model="sim-claude", max_tokens=200, system=SYSTEM, messages=MESSAGES)
    assert first.type == "message" and first.role == "assistant" and first.model == "sim-claude"
    assert first.id.startswith("msg_") and first.id != second.id
    assert first.stop_reason == "end_turn" and first.stop_sequence is None
    assert len(first.content) == 1 and first.content[0].type == "text"
    text = first.content[0].text
    assert text == second.content[0].text
    expected_input = REPLY_PRIMING_TOKENS + 2 * MESSAGE_OVERHEAD_TOKENS + count_tokens(SYSTEM)
    expected_input += count_tokens(MESSAGES[0]["content"])
    assert first.usage.input_tokens == expected_input
    assert first.usage.output_tokens == count_tokens(text)


async def test_system_as_blocks_counts_like_a_string(claude: anthropic.AsyncAnthropic) -> None:
    as_string = await claude.messages.create(model="m", max_tokens=100, system=SYSTEM, messages=MESSAGES)
    as_blocks = await claude.messages.create(
        model="m", max_tokens=100, system=[{"type": "text", "text": SYSTEM}], messages=MESSAGES
    )
    assert as_blocks.usage.input_tokens == as_string.usage.input_tokens


async def test_stream_events_arrive_in_the_real_order(claude: anthropic.AsyncAnthropic) -> None:
    plain = await claude.messages.create(model="sim-claude", max_tokens=200, messages=MESSAGES)
    stream = await claude.messages.create(model="sim-claude", max_tokens=200, messages=MESSAGES, stream=True)
    events = [event async for event in stream]
    types = [event.type for event in events]
    deltas = [e for e in events if e.type == "content_block_delta"]
    assert types == RAW_EVENT_ORDER_HEAD + ["content_block_delta"] * len(deltas) + RAW_EVENT_ORDER_TAIL
    assert len(deltas) == plain.usage.output_tokens
    assert "".join(d.delta.text for d in deltas) == plain.content[0].text
    start = events[0]
    assert start.message.usage.input_tokens == plain.usage.input_tokens
    assert start.message.usage.output_tokens == 1
    assert events[-2].delta.stop_reason == "end_turn"
    assert events[-2].usage.output_tokens == plain.usage.output_tokens


async def test_stream_helper_final_message_matches_plain(claude: anthropic.AsyncAnthropic) -> None:
    plain = await claude.messages.create(model="sim-claude", max_tokens=200, messages=MESSAGES)
    async with claude.messages.stream(model="sim-claude", max_tokens=200, messages=MESSAGES) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(texts) == plain.content[0].text
    assert final.content[0].text == plain.content[0].text
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == plain.usage.input_tokens
    assert final.usage.output_tokens == plain.usage.output_tokens


async def test_ping_is_on_the_wire(control: httpx2.AsyncClient) -> None:
    body = {"model": "sim-claude", "max_tokens": 3, "messages": MESSAGES, "stream": True}
    response = await control.post("/v1/messages", json=body, headers=HEADERS)
    names = [line.removeprefix("event: ") for line in response.text.splitlines() if line.startswith("event: ")]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert response.headers["request-id"].startswith("req_")


async def test_max_tokens_and_stop_sequences(claude: anthropic.AsyncAnthropic) -> None:
    full = await claude.messages.create(model="sim-claude", max_tokens=500, messages=MESSAGES)
    full_text = full.content[0].text
    capped = await claude.messages.create(model="sim-claude", max_tokens=4, messages=MESSAGES)
    assert capped.stop_reason == "max_tokens" and capped.usage.output_tokens == 4
    assert full_text.startswith(capped.content[0].text)
    stop_word = full_text.split()[2]
    stopped = await claude.messages.create(
        model="sim-claude", max_tokens=500, messages=MESSAGES, stop_sequences=[stop_word]
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == stop_word
    assert stopped.content[0].text == full_text[: full_text.index(stop_word)]
    async with claude.messages.stream(
        model="sim-claude", max_tokens=500, messages=MESSAGES, stop_sequences=[stop_word]
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "stop_sequence" and final.stop_sequence == stop_word
    assert final.content[0].text == stopped.content[0].text


async def test_tool_use_plain_and_streamed(claude: anthropic.AsyncAnthropic) -> None:
    messages = [{"role": "user", "content": "Call lookup_order for my last purchase"}]
    plain = await claude.messages.create(model="sim-claude", max_tokens=300, messages=messages, tools=[LOOKUP_TOOL])
    assert plain.stop_reason == "tool_use"
    block = plain.content[0]
    assert block.type == "tool_use" and block.name == "lookup_order" and block.id.startswith("toolu_")
    assert set(block.input) == {"order_id", "tags"}
    assert isinstance(block.input["tags"], list) and all(isinstance(t, str) for t in block.input["tags"])
    async with claude.messages.stream(
        model="sim-claude", max_tokens=300, messages=messages, tools=[LOOKUP_TOOL]
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].id == block.id and final.content[0].input == block.input
    assert final.usage.output_tokens == plain.usage.output_tokens


async def test_tool_choice_any_and_tool_result_turn(claude: anthropic.AsyncAnthropic) -> None:
    forced = await claude.messages.create(
        model="sim-claude",
        max_tokens=300,
        messages=[{"role": "user", "content": "hello"}],
        tools=[LOOKUP_TOOL],
        tool_choice={"type": "any"},
    )
    assert forced.content[0].type == "tool_use"
    follow_up = await claude.messages.create(
        model="sim-claude",
        max_tokens=300,
        tools=[LOOKUP_TOOL],
        messages=[
            {"role": "user", "content": "Call lookup_order"},
            {"role": "assistant", "content": [forced.content[0].model_dump()]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": forced.content[0].id, "content": "shipped"}],
            },
        ],
    )
    assert follow_up.stop_reason == "end_turn" and follow_up.content[0].type == "text"


async def test_models_list_in_anthropic_shape(claude: anthropic.AsyncAnthropic) -> None:
    page = await claude.models.list()
    ids = [model.id for model in page.data]
    assert ids[:3] == ["sim-gpt-small", "sim-gpt-large", "sim-claude"]
    assert page.data[0].type == "model"


async def test_missing_api_key_is_401_and_missing_version_is_400(control: httpx2.AsyncClient) -> None:
    body = {"model": "sim-claude", "max_tokens": 10, "messages": MESSAGES}
    no_key = await control.post("/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
    assert no_key.status_code == 401
    assert no_key.json()["type"] == "error"
    assert no_key.json()["error"]["type"] == "authentication_error"
    no_version = await control.post("/v1/messages", json=body, headers={"x-api-key": "k"})
    assert no_version.status_code == 400
    assert no_version.json()["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "m", "messages": MESSAGES}, "max_tokens"),
        ({"model": "m", "max_tokens": 5}, "messages"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "role"),
        ({"model": "m", "max_tokens": 5, "messages": MESSAGES, "temperature": 1.5}, "temperature"),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": MESSAGES,
                "tool_choice": {"type": "tool", "name": "x"},
            },
            "x",
        ),
    ],
)
async def test_bad_body_is_400_in_anthropic_shape(
    control: httpx2.AsyncClient, body: dict[str, object], fragment: str
) -> None:
    response = await control.post("/v1/messages", json=body, headers=HEADERS)
    assert response.status_code == 400
    payload = response.json()
    assert payload["type"] == "error" and payload["error"]["type"] == "invalid_request_error"
    assert fragment in payload["error"]["message"]


async def test_sdk_raises_bad_request(claude: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await claude.messages.create(model="m", max_tokens=0, messages=MESSAGES)
    assert caught.value.status_code == 400
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
