"""Replay a sample through the gateway's real semantic tier table (HNSW cosine index, FORCE RLS) and compare with
exact search: the same nearest entries and the same cache decisions (`aiaas.semcache.choose`).

Uses the gateway's own repository (`gateway.cache.repository`: the SQL the gateway runs, on an autocommit connection
as the gateway's CacheService does) under a throwaway tenant created as platform_admin, queried through app_runtime;
the tenant's entries are deleted at the end. Needs DATABASE_URL and ADMIN_DATABASE_URL (make cache-eval sets them).
Two modes: the planner's choice (for one tenant's few entries it may filter by tenant and sort, an exact search) and
HNSW forced (sorts off); `plan_indexes` records the indexes EXPLAIN shows for the function's query in each mode.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import numpy as np
from sqlalchemy import text as sql

from aiaas import clock
from aiaas.db import admin_session, create_engine, session_factory, tenant_session
from aiaas.semcache.evaluation import Encoder, Setting
from aiaas.semcache.verifier import choose
from aiaas.tenancy import create_tenant

ALIAS = "cache-eval"
# The query inside semantic_cache_nearest (migration 0022), for EXPLAIN only.
_EXPLAIN = sql(
    "explain (format json) select e.id from semantic_cache_entries e"
    " where e.tenant_id = :tenant and e.model_alias = :alias and e.system_hash = :h and e.params_hash = :h"
    " and e.embedding is not null and e.expires_at > :now order by e.embedding <=> cast(:q as vector) limit :k"
)


# The planner's own choice (what the gateway gets), and the HNSW index forced (sorts and sequential scans off), in the
# transaction the search runs in.
_MODES: dict[str, tuple[str, ...]] = {
    "planner_choice": (),
    "hnsw_forced": ("set local enable_sort = off", "set local enable_seqscan = off"),
}


def _index_names(node: dict[str, Any]) -> list[str]:
    names = [str(node["Index Name"])] if "Index Name" in node else []
    for child in node.get("Plans", []):
        names += _index_names(child)
    return names


HASH = hashlib.sha256(b"cache-eval replay").hexdigest()


def _dsn() -> str:
    """DATABASE_URL for asyncpg itself (the SQLAlchemy form names its driver)."""
    return os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)


def _vector_text(vector: np.ndarray) -> str:
    """pgvector's text form, for the EXPLAIN's bound parameter (float32 values, as stored)."""
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vector, dtype=np.float32)) + "]"


async def _replay(entries: Sequence[str], queries: Sequence[str], encode: Encoder, s: Setting) -> dict[str, Any]:
    from gateway.cache import repository
    from gateway.cache.schemas import CachedAnswer

    runtime = create_engine(os.environ["DATABASE_URL"], pool_size=2, application_name="cache-eval")
    admin = create_engine(os.environ["ADMIN_DATABASE_URL"], pool_size=1, application_name="cache-eval")
    sessions, admin_sessions = session_factory(runtime), session_factory(admin)
    evecs, qvecs = encode(entries), encode(queries)
    slug = f"cache-eval-{uuid.uuid4().hex[:10]}"
    now = clock.now()
    try:
        async with admin_session(admin_sessions) as session:
            tenant = await create_tenant(session, name=f"Tenant {slug}", slug=slug)
        tid = str(tenant.id)
        ids: dict[str, int] = {}
        # The gateway's own statements, on an asyncpg connection with its binary vector codec, as the cache runs.
        conn = await asyncpg.connect(_dsn())
        await repository.use_binary_vectors(conn)
        try:
            for i, (entry, vec) in enumerate(zip(entries, evecs, strict=True)):
                entry_id, _ = await repository.store_entry(
                    conn,
                    tenant=tid,
                    alias=ALIAS,
                    exact_key=hashlib.sha256(f"{i}:{entry}".encode()).hexdigest(),
                    system_hash=HASH,
                    params_hash=HASH,
                    query=entry,
                    vector=vec,
                    answer=CachedAnswer(f"answer {i}", "stop", "eval", 1, 1),
                    now=now,
                    expires=now + timedelta(hours=1),
                    keep=len(entries),
                )
                ids[entry_id] = i
        finally:
            await conn.close()
        exact = qvecs @ evecs.T
        report: dict[str, Any] = {"entries": len(entries), "queries": len(queries), "k": s.k}
        for mode, settings in _MODES.items():
            same_top1 = same_topk = same_decision = 0
            # A fresh connection per mode: PL/pgSQL caches its query plans per session.
            mode_conn = await asyncpg.connect(_dsn())
            await repository.use_binary_vectors(mode_conn)
            for q, (query, vec) in enumerate(zip(queries, qvecs, strict=True)):
                async with mode_conn.transaction():
                    for setting in settings:
                        await mode_conn.execute(setting)
                    rows = await repository.nearest(
                        mode_conn,
                        tenant=tid,
                        alias=ALIAS,
                        system_hash=HASH,
                        params_hash=HASH,
                        vector=vec,
                        now=now,
                        k=s.k,
                    )
                found = [ids[r.entry_id] for r in rows]
                truth = np.argsort(-exact[q], kind="stable")[: s.k].tolist()
                same_top1 += int(bool(found) and found[0] == truth[0])
                same_topk += int(found == truth)
                got = choose(
                    query,
                    [(r.query, r.similarity) for r in rows],
                    s.threshold,
                    to_nearest=[r.to_nearest for r in rows],
                )
                want = choose(
                    query,
                    [(entries[i], float(exact[q, i])) for i in truth],
                    s.threshold,
                    to_nearest=(evecs[truth] @ evecs[truth[0]]).astype(float).tolist(),
                )
                same_decision += int((None if got is None else found[got]) == (None if want is None else truth[want]))
            await mode_conn.close()
            async with tenant_session(sessions, tid) as session:
                for setting in (*settings, "set local hnsw.iterative_scan = strict_order"):
                    await session.execute(sql(setting))
                params = {"tenant": tid, "alias": ALIAS, "h": HASH, "now": now, "k": s.k}
                explained = await session.execute(_EXPLAIN, {**params, "q": _vector_text(qvecs[0])})
                plan = _index_names(explained.scalar_one()[0]["Plan"])
            n = len(queries)
            report[mode] = {
                "settings": list(settings),
                "plan_indexes": plan,
                "same_nearest": round(same_top1 / n, 4),
                "same_top_k_order": round(same_topk / n, 4),
                "same_cache_decision": round(same_decision / n, 4),
            }
        async with tenant_session(sessions, tid) as session:
            await repository.delete_all(session, tenant=tid, alias=ALIAS)
    finally:
        await runtime.dispose()
        await admin.dispose()
    return report


def replay(entries: Sequence[str], queries: Sequence[str], encode: Encoder, s: Setting) -> dict[str, Any]:
    """Insert `entries` into semantic_cache_entries, ask `queries` through HNSW, compare with exact search."""
    return asyncio.run(_replay(entries, queries, encode, s))
