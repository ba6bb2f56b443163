"""The response cache's SQL helpers against the real pgvector: vectors sent in binary read back bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.cache.connections import CacheConnections
from gateway.cache.repository import vector_bytes


async def test_a_vector_sent_in_binary_reads_back_as_the_same_float32_values(runtime_engine: AsyncEngine) -> None:
    rng = np.random.default_rng(14)
    vectors = [rng.standard_normal(384).astype(np.float32) for _ in range(20)]
    vectors.append(np.array([1e-30, -3.4e38, 0.1, -0.0, 5e-8] + [0.0] * 379, dtype=np.float32))
    connections = CacheConnections(runtime_engine)
    try:
        async with connections.connection() as conn:
            for vector in vectors:
                # pgvector's own text form of what it received, and the value read back in binary.
                as_text, back = await conn.fetchrow("select $1::vector::text, $1::vector", vector)
                from_text = np.array([np.float32(x) for x in as_text[1:-1].split(",")], dtype=np.float32)
                assert np.array_equal(from_text, vector)
                assert back.dtype == np.float32 and np.array_equal(back, vector)
            assert await conn.fetchval("select vector_dims($1::vector)", np.array([0.5, -0.25])) == 2
    finally:
        await connections.close()


def test_a_vector_takes_float64_and_refuses_what_pgvector_cannot_hold() -> None:
    assert vector_bytes(np.array([0.5, -0.25], dtype=np.float64)) == b"\x00\x02\x00\x00?\x00\x00\x00\xbe\x80\x00\x00"
    for bad in (np.array([0.1, np.nan]), np.array([np.inf]), np.zeros((2, 2))):
        with pytest.raises(ValueError, match="finite"):
            vector_bytes(bad)
