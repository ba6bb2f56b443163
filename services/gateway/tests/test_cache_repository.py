"""The response cache's SQL helpers against the real pgvector: vector literals read back bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.cache.repository import vector_literal


async def test_a_vector_literal_reads_back_as_the_same_float32_values(runtime_engine: AsyncEngine) -> None:
    rng = np.random.default_rng(14)
    vectors = [rng.standard_normal(384).astype(np.float32) for _ in range(20)]
    vectors.append(np.array([1e-30, -3.4e38, 0.1, -0.0, 5e-8] + [0.0] * 379, dtype=np.float32))
    async with runtime_engine.connect() as conn:
        for vector in vectors:
            query = text("select cast(:q as vector)::text")
            stored = (await conn.execute(query, {"q": vector_literal(vector)})).scalar()
            back = np.array([np.float32(x) for x in str(stored)[1:-1].split(",")], dtype=np.float32)
            assert np.array_equal(back, vector)


def test_a_vector_literal_takes_float64_and_refuses_what_pgvector_cannot_hold() -> None:
    assert vector_literal(np.array([0.5, -0.25], dtype=np.float64)) == "[0.5,-0.25]"
    for bad in (np.array([0.1, np.nan]), np.array([np.inf]), np.zeros((2, 2))):
        with pytest.raises(ValueError, match="finite"):
            vector_literal(bad)
