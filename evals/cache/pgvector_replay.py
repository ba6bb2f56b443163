"""Replay a sample through the gateway's real semantic tier table (HNSW cosine index, FORCE RLS) and compare with
exact search: the same nearest entries and the same cache decisions (`aiaas.semcache.choose`).

Uses the gateway's own repository (`gateway.cache.repository`: the SQL the gateway runs, on an autocommit connection
as the gateway's CacheService does) under a throwaway tenant created as platform_admin, queried through app_runtime;
the tenant's entries are deleted at the end. Needs DATABASE_URL and ADMIN_DATABASE_URL (`eval "$(.venv/bin/python deploy/local/infra.py env)"`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np

from aiaas import clock
from aiaas.db import admin_session, create_engine, session_factory, tenant_session
from aiaas.semcache.evaluation import Encoder, Setting
from aiaas.semcache.verifier import choose
from aiaas.tenancy import create_tenant

ALIAS = "cache-eval"
HASH = hashlib.sha256(b"cache-eval replay").hexdigest()


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
        async with tenant_session(sessions, tid) as session:
            for i, (text, vec) in enumerate(zip(entries, evecs, strict=True)):
                entry_id = await repository.upsert_entry(
                    session,
                    tenant=tid,
                    alias=ALIAS,
                    exact_key=hashlib.sha256(f"{i}:{text}".encode()).hexdigest(),
                    system_hash=HASH,
                    params_hash=HASH,
                    query=text,
                    vector=repository.vector_literal(vec),
                    answer=CachedAnswer(f"answer {i}", "stop", "eval", 1, 1),
                    now=now,
                    expires=now + timedelta(hours=1),
                )
                ids[entry_id] = i
        exact = qvecs @ evecs.T
        same_top1 = same_topk = same_decision = 0
        for q, (text, vec) in enumerate(zip(queries, qvecs, strict=True)):
            async with runtime.connect() as raw:
                conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
                rows = await repository.nearest(
                    conn,
                    tenant=tid,
                    alias=ALIAS,
                    system_hash=HASH,
                    params_hash=HASH,
                    vector=repository.vector_literal(vec),
                    now=now,
                    k=s.k,
                )
            hnsw = [ids[r.entry_id] for r in rows]
            truth = np.argsort(-exact[q], kind="stable")[: s.k].tolist()
            same_top1 += int(bool(hnsw) and hnsw[0] == truth[0])
            same_topk += int(hnsw == truth)
            got = choose(text, [(r.query, r.similarity) for r in rows], s.threshold)
            want = choose(text, [(entries[i], float(exact[q, i])) for i in truth], s.threshold)
            same_decision += int((None if got is None else hnsw[got]) == (None if want is None else truth[want]))
        async with tenant_session(sessions, tid) as session:
            await repository.delete_all(session, tenant=tid, alias=ALIAS)
    finally:
        await runtime.dispose()
        await admin.dispose()
    n = len(queries)
    return {
        "entries": len(entries),
        "queries": n,
        "k": s.k,
        "same_nearest": round(same_top1 / n, 4),
        "same_top_k_order": round(same_topk / n, 4),
        "same_cache_decision": round(same_decision / n, 4),
    }


def replay(entries: Sequence[str], queries: Sequence[str], encode: Encoder, s: Setting) -> dict[str, Any]:
    """Insert `entries` into semantic_cache_entries, ask `queries` through HNSW, compare with exact search."""
    return asyncio.run(_replay(entries, queries, encode, s))
