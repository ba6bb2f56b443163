"""Where EmbeddingCache keeps its vectors: one SQLite file per embedder variant (offline evaluations only)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from aiaas_embedder.model import FloatArray

__all__ = ["VectorStore"]

_CHUNK = 500  # keys per lookup (SQLite's bound-parameter limit is far above this)


class VectorStore:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    def get_many(self, keys: list[str]) -> dict[str, FloatArray]:
        found: dict[str, FloatArray] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, vector FROM vectors WHERE key IN ({marks})"  # noqa: S608 - placeholders only
            for key, blob in self._db.execute(query, chunk):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, rows: list[tuple[str, FloatArray]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", [(k, v.tobytes()) for k, v in rows])
        self._db.commit()
