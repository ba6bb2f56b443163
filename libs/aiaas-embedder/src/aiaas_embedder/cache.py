"""A disk cache of vectors for offline evaluations: each text is encoded once per embedder variant."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from aiaas_embedder.model import DIM, Embedder, FloatArray, default_embedder
from aiaas_embedder.repository import VectorStore

__all__ = ["EmbeddingCache"]


class EmbeddingCache:
    """`encode(texts)` like the embedder's, reading and filling a SQLite file under `path`."""

    def __init__(self, path: Path | str = ".local/embed-cache", embedder: Embedder | None = None) -> None:
        self._embedder = embedder or default_embedder()
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        self._store = VectorStore(directory / f"{self._embedder.name}-{self._embedder.variant}.sqlite")

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self._embedder.model_sha256}\0{text}".encode()).hexdigest()

    def encode(self, texts: list[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        keys = [self._key(text) for text in texts]
        found = self._store.get_many(keys)
        missing = sorted({key: text for key, text in zip(keys, texts, strict=True) if key not in found}.items())
        if missing:
            vectors = self._embedder.encode([text for _, text in missing])
            rows = [(key, vector) for (key, _), vector in zip(missing, vectors, strict=True)]
            self._store.put_many(rows)
            found.update(rows)
        return np.stack([found[key] for key in keys])
