"""Request features: pure rules over a chat request (token estimate, schema strictness, domains, terms)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aiaas.routing import DOMAINS, RequestFeatures, extract_features
from aiaas.routing.features import (
    MAX_TERMS,
    last_user_text,
    message_text,
    rule_domains,
    schema_strictness,
    terms_of,
    token_estimate,
)

TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
STRICT_TOOL = {"type": "function", "function": {"name": "lookup", "strict": True, "parameters": {"type": "object"}}}

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)
messages_st = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": texts}), max_size=5
)


def test_token_estimate_counts_word_chunks_and_punctuation() -> None:
    assert token_estimate("") == 0
    assert token_estimate("hi") == 1
    assert token_estimate("hello") == 2  # 5 characters: two started chunks of 4
    assert token_estimate("hi, you!") == 4  # hi , you !
    assert token_estimate("internationalization") == 5


def test_token_count_sums_messages_with_overhead_and_tools() -> None:
    one = extract_features([{"role": "user", "content": "hi"}])
    assert one.token_count == 1 + 4
    two = extract_features([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
    assert two.token_count == (1 + 2) + 4 + 1 + 4  # "be" 1, "brief" 2
    with_tool = extract_features([{"role": "user", "content": "hi"}], tools=[TOOL])
    assert with_tool.token_count > one.token_count


def test_strictness_levels() -> None:
    assert schema_strictness(None, None) == 0
    assert schema_strictness([], {"type": "text"}) == 0
    assert schema_strictness(None, {"type": "json_object"}) == 1
    assert schema_strictness(None, {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}) == 2
    assert schema_strictness([TOOL], None) == 1
    assert schema_strictness([TOOL, STRICT_TOOL], {"type": "json_object"}) == 2
    assert schema_strictness([{"type": "function", "strict": True}], None) == 2


def test_domain_rules_on_examples() -> None:
    assert "code" in rule_domains("Write a Python function that reverses a list")
    assert "math" in rule_domains("Solve the equation 3x + 5 = 20")
    assert "math" in rule_domains("How many apples are left if I eat 3 of 12?")
    assert "translation" in rule_domains("Translate this sentence into French")
    assert "extraction" in rule_domains("Extract every date from the following text")
    assert "writing" in rule_domains("Compose a short poem about autumn")
    assert "law" in rule_domains("Is this contract clause enforceable in court?")
    assert "medicine" in rule_domains("What are the symptoms of anemia in a patient?")
    assert "science" in rule_domains("Explain quantum entanglement in physics")
    assert rule_domains("Hello there, nice weather today") == frozenset()
    assert rule_domains("anything at all") <= frozenset(DOMAINS)


def test_domains_come_from_the_last_user_message_only() -> None:
    features = extract_features(
        [
            {"role": "user", "content": "Translate into German please"},
            {"role": "assistant", "content": "Sure"},
            {"role": "user", "content": "Compose a poem"},
        ]
    )
    assert features.domain_flags == frozenset({"writing"})
    assert features.terms == ("compose", "a", "poem")


def test_content_parts_and_missing_content() -> None:
    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "Describe"},
            {"type": "image_url", "image_url": {"url": "http://x/y.png"}},
            {"type": "text", "text": "this"},
        ],
    }
    assert message_text(message) == "Describe\nthis"
    assert message_text({"role": "assistant", "content": None}) == ""
    assert last_user_text([{"role": "system", "content": "s"}]) == ""
    assert extract_features([message]).terms == ("describe", "this")


def test_terms_are_lowercased_words_capped() -> None:
    assert terms_of("Hello, WORLD_x 42!") == ("hello", "world", "x", "42")
    assert len(terms_of("a " * (MAX_TERMS + 10))) == MAX_TERMS


@settings(max_examples=60, deadline=None)
@given(messages_st)
def test_extraction_is_deterministic_and_in_range(messages: list[dict[str, str]]) -> None:
    first = extract_features(messages)
    second = extract_features([dict(m) for m in messages])
    assert first == second
    assert isinstance(first, RequestFeatures)
    assert first.token_count >= 4 * len(messages)
    assert first.json_schema_strictness == 0
    assert first.domain_flags <= frozenset(DOMAINS)
    assert len(first.terms) <= MAX_TERMS


@settings(max_examples=60, deadline=None)
@given(messages_st, texts)
def test_token_count_never_drops_when_text_is_appended(messages: list[dict[str, str]], extra: str) -> None:
    longer = [*messages, {"role": "user", "content": extra}]
    assert extract_features(longer).token_count == extract_features(messages).token_count + token_estimate(extra) + 4


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([None, {"type": "text"}, {"type": "json_object"}, {"type": "json_schema"}]), st.booleans())
def test_strictness_is_the_max_of_format_and_tools(fmt: dict[str, str] | None, strict: bool) -> None:
    tools = [STRICT_TOOL if strict else TOOL]
    level = extract_features([{"role": "user", "content": "x"}], tools, fmt).json_schema_strictness
    assert level == max(schema_strictness(None, fmt), 2 if strict else 1)
