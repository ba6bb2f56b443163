"""All SQL of the response cache (`semantic_cache_entries`). Tenant isolation is RLS: sessions are the tenant's.

Every statement also names the tenant: RLS is what keeps tenants apart, the column lets the planner use the
tenant's indexes. Vectors travel in pgvector's binary form (`use_binary_vectors`, on each connection: 1.5 kB of
float32 instead of ~4 kB of digits to format and parse). The request path's search
is one call of `semantic_cache_nearest`, the store one of `semantic_cache_store`, each one statement on a plain
asyncpg connection (no BEGIN, bind, COMMIT round trips; asyncpg keeps them prepared): SQLAlchemy's checkout and
execute cost ~0.6 ms of CPU per search, as much as Postgres's own part at bench partition sizes.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg
import numpy as np
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.cache.schemas import CachedAnswer, StoredEntry

__all__ = [
    "count_entries",
    "delete_all",
    "delete_entry",
    "nearest",
    "store_entry",
    "use_binary_vectors",
    "vector_bytes",
]

# One round trip: the function binds its statement's transaction to the tenant (migrations 0022_semantic_cache,
# 0024_semantic_cache_rivals: each candidate's cosine to the nearest one comes with it).
_NEAREST = (
    "select id, exact_key, query_text, answer::text as answer, similarity, to_nearest from semantic_cache_nearest("
    "$1::uuid, $2::text, $3::text, $4::text, $5::vector, $6::timestamptz, $7::integer)"
)
_STORE = (
    "select entry_id, evicted from semantic_cache_store($1::uuid, $2::uuid, $3::text, $4::text, $5::text, $6::text,"
    " $7::text, $8::vector, $9::text::jsonb, $10::timestamptz, $11::timestamptz, $12::integer)"
)
_DELETE_ALL = text(
    """
    delete from semantic_cache_entries
    where tenant_id = :tenant and (cast(:alias as text) is null or model_alias = cast(:alias as text))
    returning exact_key
    """
)
_DELETE_ONE = text("delete from semantic_cache_entries where tenant_id = :tenant and id = :id returning exact_key")
_COUNT = text("select count(*) from semantic_cache_entries where tenant_id = :tenant and expires_at > :now")


# pgvector's binary form: dimensions (int16), unused (int16), then each value as a big-endian float32.
_VECTOR_HEAD = struct.Struct(">hh")


def vector_bytes(vector: np.ndarray) -> bytes:
    """pgvector's binary form of a 1-d float vector, as float32 (what pgvector stores: read back bit for bit)."""
    values = np.asarray(vector, dtype=np.float32)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ValueError("a vector needs 1-d finite values")
    return _VECTOR_HEAD.pack(values.shape[0], 0) + values.astype(">f4").tobytes()


def _vector_from_bytes(data: bytes) -> np.ndarray:
    dim, _ = _VECTOR_HEAD.unpack_from(data)
    return np.frombuffer(data, dtype=">f4", count=dim, offset=_VECTOR_HEAD.size).astype(np.float32)


async def use_binary_vectors(conn: asyncpg.Connection) -> None:
    """Send and read `vector` values in binary on `conn` (numpy arrays in, numpy float32 arrays out)."""
    await conn.set_type_codec(
        "vector", schema="public", encoder=vector_bytes, decoder=_vector_from_bytes, format="binary"
    )


async def nearest(
    conn: asyncpg.Connection,
    *,
    tenant: str,
    alias: str,
    system_hash: str,
    params_hash: str,
    vector: np.ndarray,
    now: datetime,
    k: int,
) -> list[StoredEntry]:
    """The `k` live entries nearest to `vector` among the tenant's with these hashes, nearest first,
    each with its cosine to the query (`similarity`) and to the nearest entry (`to_nearest`).

    `conn` must be outside a transaction: the search binds the tenant for its own statement only.
    """
    rows = await conn.fetch(_NEAREST, tenant, alias, system_hash, params_hash, vector, now, k)
    return [
        StoredEntry(
            str(row["id"]),
            str(row["exact_key"]),
            str(row["query_text"]),
            str(row["answer"]),
            float(row["similarity"]),
            float(row["to_nearest"]),
        )
        for row in rows
    ]


async def store_entry(
    conn: asyncpg.Connection,
    *,
    tenant: str,
    alias: str,
    exact_key: str,
    system_hash: str,
    params_hash: str,
    query: str | None,
    vector: np.ndarray | None,
    answer: CachedAnswer,
    now: datetime,
    expires: datetime,
    keep: int,
) -> tuple[str, list[str]]:
    """Insert the entry (or refresh the one with this exact key), then evict the tenant's expired entries and all
    but its `keep` newest, in one statement on `conn` outside a transaction: the entry's id and the evicted exact
    keys."""
    row = await conn.fetchrow(
        _STORE,
        uuid.uuid4(),
        tenant,
        alias,
        exact_key,
        system_hash,
        params_hash,
        query,
        vector,
        orjson.dumps(answer.to_json()).decode(),
        now,
        expires,
        keep,
    )
    if row is None:
        raise RuntimeError("semantic_cache_store returned no row")
    return str(row["entry_id"]), [str(key) for key in row["evicted"]]


async def delete_all(session: AsyncSession, *, tenant: str, alias: str | None) -> Sequence[str]:
    """Delete the tenant's entries (of one alias, or all); their exact keys."""
    rows = await session.execute(_DELETE_ALL, {"tenant": tenant, "alias": alias})
    return [str(row.exact_key) for row in rows]


async def delete_entry(session: AsyncSession, *, tenant: str, entry_id: uuid.UUID) -> str | None:
    """Delete one entry; its exact key, or None when the tenant has no such entry."""
    row = (await session.execute(_DELETE_ONE, {"tenant": tenant, "id": entry_id})).first()
    return None if row is None else str(row.exact_key)


async def count_entries(session: AsyncSession, *, tenant: str, now: datetime) -> int:
    return int((await session.execute(_COUNT, {"tenant": tenant, "now": now})).scalar_one())
