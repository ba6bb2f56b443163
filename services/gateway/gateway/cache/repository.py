"""All SQL of the response cache (`semantic_cache_entries`). Tenant isolation is RLS: sessions are the tenant's.

Every statement also names the tenant: RLS is what keeps tenants apart, the column lets the planner use the
tenant's indexes. Vectors travel as pgvector's text form (`[x,y,...]`) cast in SQL. The request path's search
is one call of `semantic_cache_nearest`, the store one of `semantic_cache_store`, each on an autocommit
connection (no BEGIN, bind, COMMIT round trips).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gateway.cache.schemas import CachedAnswer, StoredEntry

__all__ = [
    "count_entries",
    "delete_all",
    "delete_entry",
    "nearest",
    "store_entry",
    "vector_literal",
]

# One round trip: the function binds its statement's transaction to the tenant (migrations 0022_semantic_cache,
# 0024_semantic_cache_rivals: each candidate's cosine to the nearest one comes with it).
_NEAREST = text(
    "select id, exact_key, query_text, answer, similarity, to_nearest"
    " from semantic_cache_nearest(:tenant, :alias, :system, :params, cast(:q as vector), :now, :k)"
)
_STORE = text(
    "select entry_id, evicted from semantic_cache_store(:id, :tenant, :alias, :exact, :system, :params, :query,"
    " cast(:q as vector), cast(:answer as jsonb), :now, :expires, :keep)"
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


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form of a 1-d float vector: float32 (what pgvector stores), shortest digits that read back to
    the same float32 (orjson: ~10 us for 384 values; formatting each float in Python took ~200 us)."""
    values = np.asarray(vector, dtype=np.float32)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ValueError("a vector literal needs a 1-d vector of finite values")
    return orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY).decode()


async def nearest(
    conn: AsyncConnection,
    *,
    tenant: str,
    alias: str,
    system_hash: str,
    params_hash: str,
    vector: str,
    now: datetime,
    k: int,
) -> list[StoredEntry]:
    """The `k` live entries nearest to `vector` (pgvector text) among the tenant's with these hashes, nearest first,
    each with its cosine to the query (`similarity`) and to the nearest entry (`to_nearest`).

    `conn` must be in autocommit mode: the search binds the tenant for its own statement only.
    """
    params = {
        "tenant": tenant,
        "alias": alias,
        "system": system_hash,
        "params": params_hash,
        "q": vector,
        "now": now,
        "k": k,
    }
    rows = (await conn.execute(_NEAREST, params)).all()
    return [
        StoredEntry(
            str(row.id),
            str(row.exact_key),
            str(row.query_text),
            CachedAnswer.from_json(row.answer),
            float(row.similarity),
            float(row.to_nearest),
        )
        for row in rows
    ]


async def store_entry(
    conn: AsyncConnection,
    *,
    tenant: str,
    alias: str,
    exact_key: str,
    system_hash: str,
    params_hash: str,
    query: str | None,
    vector: str | None,
    answer: CachedAnswer,
    now: datetime,
    expires: datetime,
    keep: int,
) -> tuple[str, list[str]]:
    """Insert the entry (or refresh the one with this exact key), then evict the tenant's expired entries and all
    but its `keep` newest, in one statement on an autocommit `conn`: the entry's id and the evicted exact keys."""
    params = {
        "id": uuid.uuid4(),
        "tenant": tenant,
        "alias": alias,
        "exact": exact_key,
        "system": system_hash,
        "params": params_hash,
        "query": query,
        "q": vector,
        "answer": orjson.dumps(answer.to_json()).decode(),
        "now": now,
        "expires": expires,
        "keep": keep,
    }
    row = (await conn.execute(_STORE, params)).one()
    return str(row.entry_id), [str(key) for key in row.evicted]


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
