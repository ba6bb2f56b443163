"""The tokenizer and reply generator."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from provider_sim.textgen import (
    build_reply,
    count_tokens,
    prompt_tokens,
    reply_length,
    request_seed,
    split_tokens,
)


def test_count_tokens_counts_words_and_punctuation() -> None:
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("  spaced   out  ") == 2
    assert count_tokens("") == 0
    assert count_tokens('{"a":1}') == 7


def test_prompt_tokens_adds_overheads() -> None:
    assert prompt_tokens([]) == 3
    assert prompt_tokens(["hi there", "ok"]) == 3 + (4 + 2) + (4 + 1)
    assert prompt_tokens(["x"], b'{"name":"f"}') == 3 + 5 + 9


@given(st.text(max_size=200))
def test_split_tokens_round_trips(text: str) -> None:
    pieces = split_tokens(text)
    assert "".join(pieces) == text
    assert sum(count_tokens(piece) for piece in pieces) == count_tokens(text)


@given(st.integers(min_value=0, max_value=2**64 - 1), st.integers(min_value=1, max_value=80))
def test_reply_pieces_are_single_tokens(seed: int, length: int) -> None:
    reply = build_reply(seed, length, None, [])
    assert len(reply.pieces) == length == reply.completion_tokens
    assert all(count_tokens(piece) == 1 for piece in reply.pieces)
    assert reply.text == "".join(reply.pieces) and reply.finish == "stop"


def test_reply_cap_is_a_prefix_and_stop_sequence_cuts() -> None:
    full = build_reply(42, 30, None, [])
    capped = build_reply(42, 30, 7, [])
    assert capped.finish == "length" and capped.completion_tokens == 7
    assert full.text.startswith(capped.text)
    word = full.text.split()[5]
    stopped = build_reply(42, 30, None, ["never-there", word])
    assert stopped.finish == "stop_sequence" and stopped.stop_sequence == word
    assert stopped.text == full.text[: full.text.index(word)]
    assert "".join(stopped.pieces) == stopped.text


def test_seed_and_length_are_stable() -> None:
    assert request_seed("m", [{"b": 1, "a": 2}]) == request_seed("m", [{"a": 2, "b": 1}])
    assert request_seed("m", "x") != request_seed("m", "y")
    assert all(20 <= reply_length(seed, 20, 60) <= 60 for seed in range(500))
    assert reply_length(7, 5, 5) == 5
