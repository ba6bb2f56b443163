"""0024_semantic_cache_rivals: the nearest-entries search returns each entry's cosine to the nearest one, vectors are
stored inline; and back."""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from data_plane.migrate import downgrade, upgrade

NOW = datetime(2026, 3, 1, tzinfo=UTC)
HASH = "0" * 64


def _vector(*head: float) -> str:
    """A unit 384-d vector in pgvector's text form, `head` giving its first components."""
    norm = math.sqrt(sum(x * x for x in head))
    values = [x / norm for x in head] + [0.0] * (384 - len(head))
    return "[" + ",".join(repr(v) for v in values) + "]"


async def _storage(dsn: str) -> str:
    """How the embedding column stores its values: p = plain (inline), e = external (TOAST)."""
    conn = await asyncpg.connect(dsn)
    try:
        return str(
            await conn.fetchval(
                "select attstorage::text from pg_attribute"
                " where attrelid = 'semantic_cache_entries'::regclass and attname = 'embedding'"
            )
        )
    finally:
        await conn.close()


async def _nearest(dsn: str) -> list[asyncpg.Record]:
    """Three entries of one tenant, one of another; the tenant's nearest three to the query (as superuser)."""
    conn = await asyncpg.connect(dsn)
    try:
        tenant, other = [
            await conn.fetchval("insert into tenants (name, slug) values ($1, $1) returning id", uuid.uuid4().hex)
            for _ in range(2)
        ]
        entries = [(tenant, "q-near", (1.0, 0.1)), (tenant, "q-second", (1.0, 0.3)), (tenant, "q-far", (0.0, 1.0))]
        entries.append((other, "other-tenant", (1.0, 0.0)))
        for number, (owner, text, head) in enumerate(entries):
            await conn.execute(
                "insert into semantic_cache_entries (id, tenant_id, model_alias, exact_key, system_hash, params_hash,"
                " query_text, embedding, answer, created_at, expires_at)"
                " values ($1, $2, 'm', $3, $4, $4, $5, cast($6 as vector), '{}'::jsonb, $7, $8)",
                uuid.uuid4(),
                owner,
                f"{number:064d}",
                HASH,
                text,
                _vector(*head),
                NOW,
                NOW + timedelta(hours=1),
            )
        return await conn.fetch(
            "select * from semantic_cache_nearest($1, 'm', $2, $2, cast($3 as vector), $4, 3)",
            tenant,
            HASH,
            _vector(1.0, 0.0),
            NOW,
        )
    finally:
        await conn.close()


def test_nearest_returns_cosines_to_the_nearest_entry_and_downgrade_restores_the_old_result(scratch) -> None:
    settings, dsn = scratch
    upgrade(settings)
    assert asyncio.run(_storage(dsn)) == "p"
    rows = asyncio.run(_nearest(dsn))
    assert [r["query_text"] for r in rows] == ["q-near", "q-second", "q-far"]
    # cos(query, entry) and cos(nearest entry, entry) from the unit vectors above.
    near, second, far = (1.0, 0.1), (1.0, 0.3), (0.0, 1.0)

    def cos(a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] * b[0] + a[1] * b[1]) / math.hypot(*a) / math.hypot(*b)

    assert [round(r["similarity"], 5) for r in rows] == [round(cos((1.0, 0.0), e), 5) for e in (near, second, far)]
    assert [round(r["to_nearest"], 5) for r in rows] == [1.0, round(cos(near, second), 5), round(cos(near, far), 5)]

    downgrade(settings, "0022_semantic_cache")
    old = asyncio.run(_nearest(dsn))
    assert [r["query_text"] for r in old] == ["q-near", "q-second", "q-far"]
    assert "to_nearest" not in old[0].keys()
    assert asyncio.run(_storage(dsn)) == "e"
    upgrade(settings)
    assert asyncio.run(_storage(dsn)) == "p"
    assert [r["to_nearest"] for r in asyncio.run(_nearest(dsn))][0] == 1.0
