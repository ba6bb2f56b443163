"""A disk cache of vectors for offline evaluations: each text is encoded once per embedder variant."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np

from aiaas_embedder.model import DIM, Embedder, FloatArray, default_embedder

__all__ = ["EmbeddingCache"]


class EmbeddingCache:
    """`encode(texts)` like the embedder's, reading and filling a SQLite file under `path`."""

    def __init__(self, path: Path | str = ".local/embed-cache", embedder: Embedder | None = None) -> None:
        self._embedder = embedder or default_embedder()
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(directory / f"{self._embedder.name}-{self._embedder.variant}.sqlite")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self._embedder.model_sha256}\0{text}".encode()).hexdigest()

    def encode(self, texts: list[str]) -> FloatArray:
        keys = [self._key(text) for text in texts]
        found: dict[str, FloatArray] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk):  # noqa: S608 - placeholders only
                found[key] = np.frombuffer(blob, dtype=np.float32)
        missing = sorted({key: text for key, text in zip(keys, texts, strict=True) if key not in found}.items())
        if missing:
            vectors = self._embedder.encode([text for _, text in missing])
            rows = [(key, vector.tobytes()) for (key, _), vector in zip(missing, vectors, strict=True)]
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
            self._db.commit()
            found.update({key: vector for (key, _), vector in zip(missing, vectors, strict=True)})
        if not keys:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([found[key] for key in keys])
