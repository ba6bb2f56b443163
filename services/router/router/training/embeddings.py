"""Offline embeddings for training and evaluation: the serving embedder, through its disk cache."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aiaas_embedder import EMBEDDER_NAME, EmbeddingCache, default_embedder

__all__ = ["EMBEDDER_NAME", "embed_texts", "embedder_variant"]

_CHUNK = 64


def embedder_variant() -> str:
    """The serving embedder's variant name (thresholds and weights are per embedder)."""
    return str(default_embedder().variant)


def embed_texts(texts: Sequence[str], cache_dir: Path) -> np.ndarray:
    """Vectors for `texts` (rows in order), encoded once per text: length-sorted chunks keep padding small."""
    cache = EmbeddingCache(cache_dir)
    out = np.zeros((len(texts), 384), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), _CHUNK):
        chunk = order[start : start + _CHUNK]
        out[chunk] = cache.encode([texts[i] for i in chunk])
    return out
