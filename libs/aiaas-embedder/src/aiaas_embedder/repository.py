"""Where EmbeddingCache keeps its vectors: one SQLite file per embedder variant (offline evaluations only)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from aiaas_embedder.model import FloatArray

__all__ = ["VectorStore"]


class VectorStore:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    def get_many(self, keys: list[str]) -> dict[str, FloatArray]:
        found: dict[str, FloatArray] = {}
        for key in keys:  # one indexed lookup each: microseconds in SQLite, and no SQL built from strings
            row = self._db.execute("SELECT vector FROM vectors WHERE key = ?", (key,)).fetchone()
            if row is not None:
                found[key] = np.frombuffer(row[0], dtype=np.float32)
        return found

    def put_many(self, rows: list[tuple[str, FloatArray]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", [(k, v.tobytes()) for k, v in rows])
        self._db.commit()
