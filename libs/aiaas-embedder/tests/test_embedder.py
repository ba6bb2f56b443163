"""The embedder's vectors, its hash checks and the text a chat request embeds (real model, no doubles)."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from aiaas_embedder import EmbedderError, EmbeddingCache, default_embedder, normalise_question, query_text
from aiaas_embedder import model as model_module


def test_vectors_are_normalised_384_d_and_paraphrases_are_closer_than_strangers():
    emb = default_embedder()
    vectors = emb.encode(
        [
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
            "What is the boiling point of lead?",
        ]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    paraphrase, stranger = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert paraphrase > 0.5 > stranger


def test_a_batch_gives_the_same_vectors_as_one_by_one():
    emb = default_embedder()
    texts = ["short", "a much longer sentence that needs padding in the batch, so the mask has to do its work"]
    batch = emb.encode(texts)
    single = np.concatenate([emb.encode([text]) for text in texts])
    assert np.allclose(batch, single, atol=1e-5)


def test_int8_matmuls_agree_with_the_shipped_model():
    texts = ["Where is my order #12345?", "Cancel my subscription please"]
    shipped = model_module.Embedder("shipped").encode(texts)
    int8 = default_embedder().encode(texts)
    assert np.all((shipped * int8).sum(axis=1) >= 0.99)


def test_aencode_runs_off_the_loop_and_matches_encode():
    emb = default_embedder()
    vector = asyncio.run(emb.aencode(["hello there"]))
    assert np.allclose(vector, emb.encode(["hello there"]))


def test_a_short_text_is_encoded_on_the_calling_thread_a_long_one_on_the_embedders() -> None:
    emb = default_embedder()
    short, long = "hello there", " ".join(["word"] * 40)

    async def encode_and_name_the_thread(text: str) -> tuple[np.ndarray, set[str]]:
        names: set[str] = set()
        original = emb._infer

        def infer(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            names.add(threading.current_thread().name)
            return original(ids, mask)

        emb._infer = infer  # type: ignore[method-assign]
        try:
            vectors = await emb.aencode([text], inline_max_tokens=16)
        finally:
            del emb._infer
        return vectors, names

    for text, inline in ((short, True), (long, False)):
        vectors, names = asyncio.run(encode_and_name_the_thread(text))
        (name,) = names
        assert (name == threading.current_thread().name) if inline else name.startswith("embedder")
        assert np.array_equal(vectors, emb.encode([text]))  # the same vector whichever thread encoded it


def test_a_tampered_tokenizer_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    copy = tmp_path / "tokenizer.json"
    shutil.copy(model_module._TOKENIZER, copy)
    copy.write_bytes(copy.read_bytes() + b" ")
    monkeypatch.setattr(model_module, "_TOKENIZER", copy)
    with pytest.raises(EmbedderError, match="sha256"):
        model_module.Embedder("shipped")


def test_a_corrupt_cached_int8_build_is_refused(tmp_path: Path):
    built = model_module.build_int8(tmp_path)
    built.write_bytes(b"not a model")
    with pytest.raises(EmbedderError, match="sha256"):
        model_module.build_int8(tmp_path)


def test_embedding_cache_returns_the_encoders_vectors_and_reuses_them(tmp_path: Path):
    cache = EmbeddingCache(tmp_path)
    texts = ["alpha question", "beta question", "alpha question"]
    first = cache.encode(texts)
    assert np.allclose(first, default_embedder().encode(texts), atol=1e-6)
    assert np.array_equal(EmbeddingCache(tmp_path).encode(texts), first)


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([{"role": "system", "content": "be nice"}, {"role": "user", "content": "  hi  "}], "hi"),
        (
            [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "x"},
                {"role": "user", "content": "second"},
            ],
            "second",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}],
                }
            ],
            "a\nb",
        ),
        ([{"role": "user", "content": "   "}], None),
        ([{"role": "system", "content": "only system"}], None),
        ([], None),
    ],
)
def test_query_text_is_the_last_user_message(messages, expected):
    assert query_text(messages) == expected


def test_the_int8_build_really_runs_its_matmuls_in_int8(tmp_path: Path):
    import onnx

    built = onnx.load(str(model_module.build_int8(tmp_path)))
    ops = [node.op_type for node in built.graph.node]
    assert ops.count("MatMulInteger") >= 36  # every weight MatMul of the 6 layers (q, k, v, out, 2 FFN)
    assert ops.count("MatMul") == 12  # what stays fp32: attention's own products (q·k, attention·v)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"What is a transformer?"?', "What is a transformer?"),
        ("  What is GitHub?  ", "What is GitHub?"),
        ("\u201cHow do I log in?\u201d", "How do I log in?"),
        ('"hello"', "hello"),
        ('What is "k8s"?', 'What is "k8s"?'),
        ('DAN: "Which is better?"?', 'DAN: "Which is better?"?'),
        ('""', ""),
    ],
)
def test_a_question_pasted_in_quotes_is_unwrapped(text, expected):
    assert normalise_question(text) == expected


def test_query_text_embeds_the_unwrapped_question():
    assert query_text([{"role": "user", "content": '"What is a transformer?"?'}]) == "What is a transformer?"
    assert query_text([{"role": "user", "content": '""'}]) is None
