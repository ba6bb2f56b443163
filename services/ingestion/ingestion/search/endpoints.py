"""`POST /v1/ingestion/search`: the tenant's knowledge base by vector, full text or both (hybrid), with citations."""

from __future__ import annotations

from fastapi import APIRouter

from aiaas.deps import TenantSessionDep
from ingestion.search.schemas import SearchIn, SearchOut
from ingestion.search.service import SearchSettings, search
from ingestion.state import IngestionKeyDep, StateDep

__all__ = ["router"]

router = APIRouter(prefix="/v1/ingestion", tags=["ingestion"])


@router.post("/search")
async def post_search(
    body: SearchIn, principal: IngestionKeyDep, state: StateDep, session: TenantSessionDep
) -> SearchOut:
    """The `top_k` chunks best matching `query`; each cites its document, section and page."""
    settings = state.settings
    results = await search(
        session,
        state.pipeline.embedder,
        principal.tenant_id,
        query=body.query,
        mode=body.mode,
        top_k=body.top_k,
        document_ids=body.document_ids,
        settings=SearchSettings(settings.search_candidates, settings.hnsw_ef_search, settings.rrf_k),
    )
    return SearchOut(mode=body.mode, results=results)
