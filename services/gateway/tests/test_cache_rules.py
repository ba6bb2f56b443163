"""The cache's pure rules: keys, eligibility, Cache-Control, and answers in and out of the live reply shapes."""

from __future__ import annotations

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from gateway.cache.replay import answer_from_completion, answer_from_stream, completion_body, stream_events
from gateway.cache.rules import CACHE_FLAGS, CacheSettings, cache_control, plan_key
from gateway.cache.schemas import CachedAnswer
from gateway.catalog.schemas import Deployment, ModelAlias
from gateway.providers.base import Usage, sse

TENANT = "0b7c5f0e-8a1d-4c55-9a57-2c6f1f4f0a11"
OTHER = "5d0b5e5c-43a4-4a5e-8a51-1f0e7e0f9b22"
ALIAS = ModelAlias(
    name="chat",
    deployments=(Deployment(name="chat-a", provider="openai", model="sim-chat-a", base_url="http://sim/v1"),),
)
SETTINGS = CacheSettings(
    enabled=True,
    semantic=True,
    threshold=0.9,
    ttl_s=60,
    max_entries=100,
    aliases=(),
    max_temperature=1.0,
    version=0,
)


def _payload(**extra: object) -> dict[str, object]:
    return {"model": "chat", "messages": [{"role": "user", "content": "How do I reset my password?"}], **extra}


def test_the_exact_key_depends_on_what_changes_the_answer_and_on_nothing_else():
    base = plan_key(TENANT, ALIAS, _payload(), SETTINGS)
    assert base is not None and len(base.exact) == 64
    # Transport-only fields and outer whitespace do not change the key.
    same = plan_key(
        TENANT,
        ALIAS,
        {
            **_payload(stream=True, stream_options={"include_usage": True}, user="u1"),
            "messages": [{"role": "user", "content": [{"type": "text", "text": "  How do I reset my password? "}]}],
        },
        SETTINGS,
    )
    assert same is not None and same.exact == base.exact
    # The tenant, parameters, messages, the config version and the alias's models all do.
    changed = [
        plan_key(OTHER, ALIAS, _payload(), SETTINGS),
        plan_key(TENANT, ALIAS, _payload(temperature=0.2), SETTINGS),
        plan_key(TENANT, ALIAS, _payload(max_tokens=5), SETTINGS),
        plan_key(TENANT, ALIAS, _payload(seed=3), SETTINGS),
        plan_key(
            TENANT, ALIAS, {**_payload(), "messages": [{"role": "user", "content": "How do I reset it?"}]}, SETTINGS
        ),
        plan_key(TENANT, ALIAS, _payload(), CacheSettings(**{**_fields(SETTINGS), "version": 1})),
        plan_key(
            TENANT,
            ALIAS.model_copy(update={"deployments": (ALIAS.deployments[0].model_copy(update={"model": "v2"}),)}),
            _payload(),
            SETTINGS,
        ),
    ]
    digests = {key.exact for key in changed if key is not None}
    assert len(digests) == len(changed) and base.exact not in digests


def _fields(settings: CacheSettings) -> dict[str, object]:
    return {name: getattr(settings, name) for name in CacheSettings.__slots__}


def test_semantic_candidates_share_system_prompt_and_parameter_hashes():
    plain = plan_key(TENANT, ALIAS, _payload(), SETTINGS)
    with_system = plan_key(
        TENANT,
        ALIAS,
        {**_payload(), "messages": [{"role": "system", "content": "Be brief."}, *_payload()["messages"]]},  # type: ignore[misc]
        SETTINGS,
    )
    warmer = plan_key(TENANT, ALIAS, _payload(temperature=0.5), SETTINGS)
    assert plain and with_system and warmer
    assert plain.query == with_system.query == "How do I reset my password?"
    assert plain.system_hash != with_system.system_hash and plain.params_hash == with_system.params_hash
    assert plain.system_hash == warmer.system_hash and plain.params_hash != warmer.params_hash


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (
            _payload(
                messages=[
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "How do I reset my password?"},
                ]
            ),
            "more than one turn",
        ),
        (
            _payload(tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]),
            "tools",
        ),
        (
            _payload(
                messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/a.png"}}]}]
            ),
            "no user text",
        ),
    ],
)
def test_only_single_text_turns_without_tools_go_to_the_semantic_tier(payload, why):
    key = plan_key(TENANT, ALIAS, payload, SETTINGS)
    assert key is not None, "the exact tier still serves it"
    assert key.query is None, why


def test_requests_the_cache_may_not_answer():
    assert plan_key(TENANT, ALIAS, _payload(temperature=1.5), SETTINGS) is None
    assert plan_key(TENANT, ALIAS, _payload(logprobs=True), SETTINGS) is None
    assert plan_key(TENANT, ALIAS, _payload(), CacheSettings(**{**_fields(SETTINGS), "aliases": ("claude",)})) is None
    assert plan_key(TENANT, ALIAS, _payload(), CacheSettings(**{**_fields(SETTINGS), "max_temperature": 0.0})) is None
    assert plan_key(
        TENANT, ALIAS, _payload(temperature=0), CacheSettings(**{**_fields(SETTINGS), "max_temperature": 0.0})
    )
    no_semantic = plan_key(TENANT, ALIAS, _payload(), CacheSettings(**{**_fields(SETTINGS), "semantic": False}))
    assert no_semantic is not None and no_semantic.query is None


def test_cache_control_directives():
    assert cache_control(None) == cache_control("") == cache_control("max-age=0")
    assert not cache_control(None).no_cache and not cache_control(None).no_store
    both = cache_control("No-Cache, no-store")
    assert both.no_cache and both.no_store
    assert cache_control("no-store").no_store and not cache_control("no-store").no_cache


def test_the_flags_are_declared_with_valid_types():
    from aiaas.flags import Flag

    for spec in CACHE_FLAGS:
        flag = Flag.from_json({**spec, "version": 1})
        assert flag.default == spec["default"]


ANSWER = CachedAnswer("Open Settings, then  choose Reset.\nDone!  ", "stop", "sim-chat-a", 12, 9)


def test_a_replayed_completion_is_a_valid_chat_completion():
    body = completion_body(ANSWER)
    parsed = ChatCompletion.model_validate(orjson.loads(body))
    assert parsed.choices[0].message.content == ANSWER.content
    assert parsed.choices[0].finish_reason == "stop"
    assert parsed.usage is not None and (parsed.usage.prompt_tokens, parsed.usage.completion_tokens) == (12, 9)
    assert answer_from_completion(body) == ANSWER


@pytest.mark.parametrize("include_usage", [True, False])
def test_a_replayed_stream_carries_the_text_in_chunks_and_ends_like_a_live_one(include_usage):
    events = stream_events(CachedAnswer("word " * 40, "length", "m", 3, 40), include_usage)
    assert events[-1] == b"data: [DONE]\n\n"
    chunks = [ChatCompletionChunk.model_validate(orjson.loads(event[6:])) for event in events[:-1]]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len(chunks) > 4, "the content comes in several chunks"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "word " * 40
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["length"]
    if include_usage:
        assert chunks[-1].choices == [] and chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens == 40
    else:
        assert all(c.usage is None for c in chunks)
    # What a stream carried is what is stored (the usage chunk is not among the content events).
    content_events = events[:-2] if include_usage else events[:-1]
    assert answer_from_stream(content_events, Usage(3, 40)) == CachedAnswer("word " * 40, "length", "m", 3, 40)
    # Failover hands the events it held back before the first content over as one.
    joined = [b"".join(content_events[:3]), *content_events[3:]]
    assert answer_from_stream(joined, Usage(3, 40)) == CachedAnswer("word " * 40, "length", "m", 3, 40)


def test_incomplete_or_tool_answers_are_not_stored():
    def body(finish: str, **message: object) -> bytes:
        choice = {"index": 0, "message": {"role": "assistant", "content": "x", **message}, "finish_reason": finish}
        return orjson.dumps({"model": "m", "choices": [choice], "usage": {"prompt_tokens": 1, "completion_tokens": 1}})

    assert answer_from_completion(body("stop")) is not None
    assert answer_from_completion(body("content_filter")) is None
    assert answer_from_completion(body("tool_calls", tool_calls=[{"id": "t", "type": "function"}])) is None
    assert answer_from_completion(b"not json") is None
    cut = [sse(b'{"model":"m","choices":[{"index":0,"delta":{"content":"hal"},"finish_reason":null}]}')]
    assert answer_from_stream(cut, Usage(1, 1)) is None, "no finish reason: the stream did not end"
    done = [*cut, sse(b'{"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}')]
    assert answer_from_stream(done, Usage(1, 1, exact=False)) is None, "usage never reported"
    assert answer_from_stream(done, Usage(1, 1)) == CachedAnswer("hal", "stop", "m", 1, 1)
