"""0026_knowledge_base: documents and per-tenant chunk partitions under FORCE RLS, the SECURITY DEFINER partition
maker app_runtime may run for its own tenant only; the downgrade removes it all and the upgrade brings it back.

RLS is probed as app_runtime (the superuser's session takes the role with SET ROLE: policies then apply as to a
login of app_runtime) with tenant A bound: B's rows are invisible and unwritable, B's partition cannot be read
directly, an unbound session sees nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from data_plane.migrate import downgrade, upgrade

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def _vector(first: float) -> str:
    values = [first, 1.0 - first] + [0.0] * 382
    return "[" + ",".join(repr(v) for v in values) + "]"


async def _as_tenant(conn: asyncpg.Connection, tenant: uuid.UUID | None) -> None:
    await conn.execute("reset role")
    await conn.execute("set role app_runtime")
    await conn.execute("select set_config('app.tenant_id', $1, false)", "" if tenant is None else str(tenant))


async def _seed(conn: asyncpg.Connection, tenant: uuid.UUID, text: str) -> uuid.UUID:
    """As app_runtime bound to `tenant`: its partition, one document, one chunk."""
    await _as_tenant(conn, tenant)
    await conn.fetchval("select kb_ensure_partition($1)", tenant)
    document = uuid.uuid4()
    await conn.execute(
        "insert into kb_documents (id, tenant_id, filename, media_type, version, sha256, size_bytes, content, status,"
        " created_at, updated_at) values ($1, $2, 'faq.md', 'text/markdown', 1, $3, 3, 'abc', 'ready', $4, $4)",
        document,
        tenant,
        hashlib.sha256(b"abc").hexdigest(),
        NOW,
    )
    await conn.execute(
        "insert into kb_chunks (tenant_id, id, document_id, version, ordinal, content, section_path, page,"
        " content_sha256, model_id, dimension, embedding)"
        " values ($1, $2, $3, 1, 0, $4, 'Help > Refunds', null, $5, 'all-MiniLM-L6-v2', 384, cast($6 as vector))",
        tenant,
        uuid.uuid4(),
        document,
        text,
        hashlib.sha256(text.encode()).hexdigest(),
        _vector(0.9),
    )
    return document


async def _probe(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        a, b = [
            await conn.fetchval("insert into tenants (name, slug) values ($1, $1) returning id", uuid.uuid4().hex)
            for _ in range(2)
        ]
        await _seed(conn, a, "Refunds are paid back within five days.")
        doc_b = await _seed(conn, b, "Tenant B's secret refund policy.")

        # The partition maker: idempotent, one partition per tenant with its own HNSW and GIN indexes, forced RLS.
        await _as_tenant(conn, a)
        name = await conn.fetchval("select kb_ensure_partition($1)", a)
        assert name == await conn.fetchval("select kb_ensure_partition($1)", a) == "kb_chunks_" + a.hex
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("select kb_ensure_partition($1)", b)
        await conn.execute("reset role")
        indexes = await conn.fetch(
            "select am.amname, pg_get_indexdef(i.indexrelid) as definition from pg_index i"
            " join pg_class c on c.oid = i.indexrelid join pg_am am on am.oid = c.relam"
            " where i.indrelid = $1::regclass",
            name,
        )
        assert {"hnsw", "gin"} <= {row["amname"] for row in indexes}
        assert any("halfvec_cosine_ops" in row["definition"] for row in indexes)  # 0031: a halfvec HNSW
        flags = await conn.fetch(
            "select relname, relrowsecurity, relforcerowsecurity from pg_class"
            " where relname in ('kb_documents', 'kb_chunks') or relname like 'kb_chunks\\_%' and relkind = 'r'"
        )
        assert len(flags) == 4 and all(r["relrowsecurity"] and r["relforcerowsecurity"] for r in flags), flags
        assert await conn.fetchval("select relkind::text from pg_class where relname = 'kb_chunks'") == "p"

        # Bound to A: B's rows are invisible, cannot be changed, and cannot be written for B.
        await _as_tenant(conn, a)
        assert await conn.fetchval("select count(*) from kb_chunks") == 1
        assert await conn.fetchval("select count(*) from kb_documents") == 1
        assert await conn.fetchval("select count(*) from kb_chunks where tenant_id = $1", b) == 0
        assert await conn.fetchval("select count(*) from kb_chunks where content like '%secret%'") == 0
        assert await conn.execute("update kb_chunks set content = 'x' where tenant_id = $1", b) == "UPDATE 0"
        assert await conn.execute("delete from kb_documents where id = $1", doc_b) == "DELETE 0"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval(f"select count(*) from kb_chunks_{b.hex}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await conn.execute(
                "insert into kb_documents (id, tenant_id, filename, media_type, version, sha256, size_bytes, content,"
                " status, created_at, updated_at)"
                " values ($1, $2, 'x.md', 'text/markdown', 1, $3, 1, 'x', 'ready', $4, $4)",
                uuid.uuid4(),
                b,
                "0" * 64,
                NOW,
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await conn.execute(
                "insert into kb_chunks (tenant_id, id, document_id, version, ordinal, content, content_sha256,"
                " model_id, dimension, embedding) values ($1, $2, $3, 1, 5, 'x', $4, 'm', 384, cast($5 as vector))",
                b,
                uuid.uuid4(),
                doc_b,
                "0" * 64,
                _vector(0.5),
            )
        # Full-text and vector search stay inside A's partition.
        hits = await conn.fetch("select content from kb_chunks where tsv @@ websearch_to_tsquery('english', 'refund')")
        assert [r["content"] for r in hits] == ["Refunds are paid back within five days."]
        nearest = await conn.fetch(
            "select content from kb_chunks order by embedding <=> cast($1 as vector) limit 5", _vector(0.9)
        )
        assert len(nearest) == 1
        # No tenant bound: nothing visible, no partition made.
        await _as_tenant(conn, None)
        assert await conn.fetchval("select count(*) from kb_chunks") == 0
        assert await conn.fetchval("select count(*) from kb_documents") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("select kb_ensure_partition($1)", a)
    finally:
        await conn.close()


async def _exists(dsn: str) -> tuple[bool, bool, bool]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "select to_regclass('kb_documents') is not null as documents, to_regclass('kb_chunks') is not null as"
            " chunks, exists (select 1 from pg_proc where proname = 'kb_ensure_partition') as maker"
        )
        return bool(row["documents"]), bool(row["chunks"]), bool(row["maker"])
    finally:
        await conn.close()


def test_knowledge_base_rls_partitions_and_round_trip(scratch) -> None:
    settings, dsn = scratch
    upgrade(settings)
    assert asyncio.run(_exists(dsn)) == (True, True, True)
    asyncio.run(_probe(dsn))
    downgrade(settings, "0019_model_registry_status")  # 0026 and the revisions built on it
    assert asyncio.run(_exists(dsn)) == (False, False, False)
    upgrade(settings)
    assert asyncio.run(_exists(dsn)) == (True, True, True)
    asyncio.run(_probe(dsn))


async def _fulltext_plan(dsn: str) -> tuple[str, int]:
    """As app_runtime bound to a tenant with one chunk: the full-text search's plan (seq scans off), and its hits."""
    conn = await asyncpg.connect(dsn)
    try:
        tenant = await conn.fetchval("insert into tenants (name, slug) values ($1, $1) returning id", uuid.uuid4().hex)
        document = await _seed(conn, tenant, "Refunds take five business days to reach your card.")
        # 2,000 chunks that do not match: the GIN index is the cheap way to the one that does, when it may be used.
        await conn.execute(
            "insert into kb_chunks (tenant_id, id, document_id, version, ordinal, content, section_path,"
            " content_sha256, model_id, dimension, embedding)"
            " select $1, gen_random_uuid(), $2, 1, n, 'shipping label ' || n, 'Help',"
            " encode(sha256(n::text::bytea), 'hex'), 'all-MiniLM-L6-v2', 384, cast($3 as vector)"
            " from generate_series(1, 2000) n",
            tenant,
            document,
            _vector(0.5),
        )
        await conn.execute("reset role")
        await conn.execute("analyze kb_chunks")
        await _as_tenant(conn, tenant)
        query = (
            "select c.id from kb_chunks c, websearch_to_tsquery('english', $1) q(query)"
            " where c.tenant_id = $2 and c.tsv @@ q.query"
        )
        plan = "\n".join(row[0] for row in await conn.fetch("explain " + query, "refunds business days", tenant))
        hits = len(await conn.fetch(query, "refunds business days", tenant))
        return plan, hits
    finally:
        await conn.close()


def test_full_text_search_under_rls_can_use_the_gin_index(scratch) -> None:
    # bootstrap marks `tsvector @@ tsquery` leakproof: an RLS policy no longer keeps the GIN index from serving it.
    settings, dsn = scratch
    upgrade(settings)
    plan, hits = asyncio.run(_fulltext_plan(dsn))
    assert hits == 1
    # The GIN index answers the match itself (an index condition), not a filter over the tenant's rows.
    assert "Index Cond: (tsv @@" in plan, plan
