"""OpenAI embeddings through the SDK: shape, dimensions, unit norm, determinism, similarity."""

from __future__ import annotations

import math

import httpx2
import openai

from provider_sim.textgen import count_tokens


def _norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (_norm(a) * _norm(b))


async def test_default_dimensions_unit_norm_and_usage(oai: openai.AsyncOpenAI) -> None:
    texts = ["the river runs to the sea", "a quiet harbor"]
    result = await oai.embeddings.create(model="sim-embedding", input=texts)
    assert [item.index for item in result.data] == [0, 1]
    assert all(len(item.embedding) == 1536 for item in result.data)
    assert all(abs(_norm(item.embedding) - 1) < 1e-5 for item in result.data)
    assert result.usage.prompt_tokens == sum(count_tokens(t) for t in texts)
    assert result.usage.total_tokens == result.usage.prompt_tokens
    assert result.model == "sim-embedding"


async def test_deterministic_and_float_matches_base64(oai: openai.AsyncOpenAI) -> None:
    # The SDK asks for base64 by default and decodes it; floats must agree to float32 precision.
    as_base64 = await oai.embeddings.create(model="sim-embedding", input="hello world", dimensions=64)
    as_float = await oai.embeddings.create(
        model="sim-embedding", input="hello world", dimensions=64, encoding_format="float"
    )
    again = await oai.embeddings.create(
        model="sim-embedding", input="hello world", dimensions=64, encoding_format="float"
    )
    assert len(as_float.data[0].embedding) == 64
    assert as_float.data[0].embedding == again.data[0].embedding
    for decoded, exact in zip(as_base64.data[0].embedding, as_float.data[0].embedding, strict=True):
        assert abs(decoded - exact) < 1e-6


async def test_shared_words_mean_higher_similarity(oai: openai.AsyncOpenAI) -> None:
    result = await oai.embeddings.create(
        model="sim-embedding",
        input=["invoice payment overdue", "overdue invoice payment reminder", "mountain hiking trail"],
        encoding_format="float",
    )
    related, unrelated = result.data[0].embedding, result.data[2].embedding
    assert _cosine(related, result.data[1].embedding) > 0.5
    assert abs(_cosine(related, unrelated)) < 0.3


async def test_token_array_input(oai: openai.AsyncOpenAI) -> None:
    result = await oai.embeddings.create(model="sim-embedding", input=[[1, 2, 3], [4, 5]], dimensions=8)
    assert len(result.data) == 2
    assert result.usage.prompt_tokens == 5


async def test_empty_or_invalid_input_is_400(control: httpx2.AsyncClient) -> None:
    auth = {"authorization": "Bearer k"}
    for body in (
        {"model": "e", "input": ""},
        {"model": "e", "input": []},
        {"model": "e", "input": "x", "dimensions": 0},
        {"model": "e", "input": "x", "encoding_format": "hex"},
        {"input": "x"},
    ):
        response = await control.post("/v1/embeddings", json=body, headers=auth)
        assert response.status_code == 400, body
        assert response.json()["error"]["type"] == "invalid_request_error"
