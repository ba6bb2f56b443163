"""`ingestion.embedding`: the vector text sent to pgvector and the embedding tokens metered."""

from __future__ import annotations

import numpy as np
import pytest

from ingestion.chunking.chunker import load_tokenizer
from ingestion.embedding import ChunkEmbedder, vector_literal


def test_vector_literal_gives_back_each_float32() -> None:
    rng = np.random.default_rng(15)
    for scale in (1e-6, 1e-3, 1.0, 1e3):
        vector = (rng.standard_normal(384) * scale).astype(np.float32)
        text = vector_literal(vector)
        assert text.startswith("[") and text.endswith("]")
        parsed = np.array([float(x) for x in text[1:-1].split(",")], dtype=np.float32)
        assert np.array_equal(parsed, vector)
        assert text == "[" + ",".join(f"{float(x):.9g}" for x in vector) + "]"


@pytest.fixture(scope="module")
def embedder() -> ChunkEmbedder:
    return ChunkEmbedder.default()


def test_tokens_are_the_models_own_count(embedder: ChunkEmbedder) -> None:
    texts = ["Returns\nSend the parcel back within 30 days.", "word " * 400, ""]
    expected = sum(min(len(e.ids), 256) for e in load_tokenizer().encode_batch(texts))
    assert embedder.tokens(texts) == expected
    assert embedder.tokens(texts[1:2]) == 256  # cut at the model's limit
    assert embedder.tokens([]) == 0
