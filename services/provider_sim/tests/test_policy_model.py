"""sim-policy-v1 over the OpenAI wire (official SDK, real simulator process)."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageFunctionToolCall

from provider_sim.textgen import count_tokens

POLICY = "sim-policy-v1"


def tool(name: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "parameters": {"type": "object", "properties": properties, "required": required}},
    }


ORDERS_GET = tool("orders_get", {"order_id": {"type": "string"}}, ["order_id"])
REFUND = tool(
    "payments_refund",
    {"order_id": {"type": "string"}, "amount": {"type": "number"}, "email": {"type": "string"}},
    ["order_id", "amount"],
)
TOOLS = [ORDERS_GET, REFUND]
WHERE = [{"role": "user", "content": "Where is my order ORD-1234?"}]
SOURCES = (
    "Answer the customer's question from these help-centre passages only, and cite the passages you used as [n]."
    "\n\n[1] Returns are accepted within 30 days of delivery. Keep the receipt.\n\n[2] Parcels ship in 2 days."
)
CLASSIFY = (
    "Classify the customer's question into exactly one of: orders, shipping, returns, payments, account, "
    "products, other. Answer with the category only."
)
SCORE = "Score how likely this sales lead is to buy, from 0 to 100. Answer with the number only."


async def chat(oai: openai.AsyncOpenAI, **kwargs: Any) -> ChatCompletion:
    """A plain completion from the policy (keyword arguments as the SDK takes them)."""
    reply: ChatCompletion = await oai.chat.completions.create(model=POLICY, **kwargs)
    return reply


async def chunks_of(oai: openai.AsyncOpenAI, **kwargs: Any) -> list[ChatCompletionChunk]:
    """A streamed completion's chunks, with usage."""
    stream: openai.AsyncStream[ChatCompletionChunk] = await oai.chat.completions.create(
        model=POLICY, stream=True, stream_options={"include_usage": True}, **kwargs
    )
    return [chunk async for chunk in stream]


def call_of(reply: ChatCompletion) -> tuple[str, str]:
    """Name and JSON arguments of the reply's (only) function call."""
    calls = reply.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 1
    assert isinstance(calls[0], ChatCompletionMessageFunctionToolCall)
    return calls[0].function.name, calls[0].function.arguments


def text_of(reply: ChatCompletion) -> str | None:
    return reply.choices[0].message.content


async def test_auto_calls_the_intent_tool_with_extracted_arguments(oai: openai.AsyncOpenAI) -> None:
    reply = await chat(oai, messages=WHERE, tools=TOOLS)
    assert reply.choices[0].finish_reason == "tool_calls"
    name, arguments = call_of(reply)
    assert name == "orders_get"
    assert json.loads(arguments) == {"order_id": "ORD-1234"}
    assert reply.usage is not None
    assert reply.usage.completion_tokens == count_tokens("orders_get") + count_tokens(arguments)


async def test_refund_extracts_order_amount_and_optional_email(oai: openai.AsyncOpenAI) -> None:
    messages = [{"role": "user", "content": "Please refund $25.50 on ORD-1234 to ann@acme.com"}]
    name, arguments = call_of(await chat(oai, messages=messages, tools=TOOLS))
    assert name == "payments_refund"
    assert json.loads(arguments) == {"order_id": "ORD-1234", "amount": 25.5, "email": "ann@acme.com"}


async def test_tool_choice_none_named_and_required(oai: openai.AsyncOpenAI) -> None:
    none = await chat(oai, messages=WHERE, tools=TOOLS, tool_choice="none")
    assert none.choices[0].message.tool_calls is None and text_of(none)
    named_choice = {"type": "function", "function": {"name": "payments_refund"}}
    name, raw = call_of(await chat(oai, messages=WHERE, tools=TOOLS, tool_choice=named_choice))
    arguments = json.loads(raw)
    assert name == "payments_refund"
    assert arguments["order_id"] == "ORD-1234" and isinstance(arguments["amount"], float)  # placeholder amount
    hello = [{"role": "user", "content": "hello"}]
    auto = await chat(oai, messages=hello, tools=[REFUND])
    assert auto.choices[0].message.tool_calls is None
    required = await chat(oai, messages=hello, tools=[REFUND], tool_choice="required")
    assert call_of(required)[0] == "payments_refund"


async def test_final_answer_renders_tool_results_with_citations(oai: openai.AsyncOpenAI) -> None:
    asked = {"id": "c1", "type": "function", "function": {"name": "orders_get", "arguments": "{}"}}
    messages = [
        *WHERE,
        {"role": "assistant", "tool_calls": [asked]},
        {"role": "tool", "tool_call_id": "c1", "content": json.dumps({"id": "ORD-1234", "status": "shipped"})},
    ]
    reply = await chat(oai, messages=messages, tools=TOOLS)
    assert reply.choices[0].finish_reason == "stop"
    assert text_of(reply) == "Here is what I found for status: id: ORD-1234, status: shipped [1]"
    failed = [*messages[:2], {"role": "tool", "tool_call_id": "c1", "content": '{"error": "not found"}'}]
    assert text_of(await chat(oai, messages=failed, tools=TOOLS)) == "The orders_get step failed: error: not found [1]"


def ask(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


async def test_orchestrator_prompts_classify_score_and_cited_answer(oai: openai.AsyncOpenAI) -> None:
    assert text_of(await chat(oai, messages=ask(CLASSIFY, "Refund my damaged grinder"), max_tokens=8)) == "returns"
    assert text_of(await chat(oai, messages=ask(CLASSIFY, "Hi!"), max_tokens=8)) == "other"
    hot = "Name: Ann\nCompany: Acme\nMessage: We need a quote asap"
    assert text_of(await chat(oai, messages=ask(SCORE, hot), max_tokens=4)) == "85"  # 20+25 company+25 buy+15 asap
    assert text_of(await chat(oai, messages=ask(SCORE, "Name: Bo\nCompany: -\nMessage: hi"))) == "20"
    answer = await chat(oai, messages=ask(SOURCES, "Can I return it after delivery?"))
    assert text_of(answer) == "Based on our help centre:\nReturns are accepted within 30 days of delivery. [1]"


async def test_json_schema_response_has_required_fields_and_types(oai: openai.AsyncOpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "string"},
            "citations": {"type": "array", "items": {"type": "integer"}},
            "confidence": {"type": "number"},
            "escalate": {"type": "boolean"},
        },
        "required": ["answer", "citations", "confidence", "escalate"],
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    reply = await chat(oai, messages=ask(SOURCES, "Do parcels ship fast?"), response_format=response_format)
    body = json.loads(text_of(reply) or "")
    assert set(body) == {"answer", "citations", "confidence", "escalate"}
    assert body["citations"] == [2] and "[2]" in body["answer"]
    assert isinstance(body["confidence"], float) and isinstance(body["escalate"], bool)
    plain = await chat(oai, messages=WHERE, response_format={"type": "json_object"})
    assert json.loads(text_of(plain) or "") == {
        "answer": "I can help with orders. Please share any order id or email so I can look it up.",
        "intent": "orders",  # no system prompt or tools: the first agent's (faq) table
        "order_id": "ORD-1234",
    }


async def test_stream_matches_the_plain_reply_for_text_and_tool_calls(oai: openai.AsyncOpenAI) -> None:
    text_request: dict[str, Any] = {"messages": ask(SOURCES, "returns?")}
    for request in (text_request, {"messages": WHERE, "tools": TOOLS}):
        plain = await chat(oai, **request)
        chunks = await chunks_of(oai, **request)
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        text = "".join(d.content or "" for d in deltas)
        arguments = "".join(t.function.arguments or "" for d in deltas for t in d.tool_calls or [] if t.function)
        if plain.choices[0].message.tool_calls:
            assert arguments == call_of(plain)[1]
        else:
            assert text == text_of(plain)
        assert chunks[-1].usage is not None and plain.usage is not None
        assert chunks[-1].usage.model_dump() == plain.usage.model_dump()


async def test_same_request_twice_gives_byte_identical_choices(control: httpx2.AsyncClient) -> None:
    body = {"model": POLICY, "messages": WHERE, "tools": TOOLS, "seed": 7, "temperature": 0}
    headers = {"authorization": "Bearer k"}
    first = await control.post("/v1/chat/completions", json=body, headers=headers)
    second = await control.post("/v1/chat/completions", json=body, headers=headers)
    for key in ("choices", "usage"):
        assert json.dumps(first.json()[key]).encode() == json.dumps(second.json()[key]).encode()
    other_seed = await control.post("/v1/chat/completions", json={**body, "seed": 8}, headers=headers)
    assert other_seed.json()["choices"] == first.json()["choices"]  # the policy itself ignores the seed


async def test_rule_models_are_listed(oai: openai.AsyncOpenAI) -> None:
    models = [model.id async for model in oai.models.list()]
    assert {"sim-policy-v1", "sim-policy-v1-degraded", "sim-judge-v1"} <= set(models)
