"""`/v1/ingestion/documents`: upload (202), list, get, delete a tenant's knowledge-base documents."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile

from aiaas.deps import TenantSessionDep
from ingestion.documents import service
from ingestion.documents.schemas import DocumentAccepted, DocumentList, DocumentOut
from ingestion.parsing import ParseError
from ingestion.state import IngestionKeyDep, StateDep

__all__ = ["router"]

router = APIRouter(prefix="/v1/ingestion", tags=["ingestion"])


@router.post("/documents", status_code=202)
async def upload_document(
    file: Annotated[UploadFile, File(description="Markdown, HTML, PDF or plain text; the type is read from the bytes")],
    principal: IngestionKeyDep,
    state: StateDep,
) -> DocumentAccepted:
    """Upload a file: a new name is a new document, changed bytes its next version, the same bytes nothing new.

    With the JetStream pipeline the new version is `queued` (the consumer ingests it); without it, it is ingested
    before the answer (`ready` or `failed`).

    413 above the size limit, 415 for a type that is not Markdown, HTML, PDF or text, 422 for a corrupt PDF, text
    that is not UTF-8, a file without text, or one that takes longer than the parse limit (`parse_timeout`).
    """
    data = await file.read(state.settings.max_upload_bytes + 1)
    filename = service.safe_filename(file.filename)
    try:
        accepted = await state.pipeline.submit(principal.tenant_id, filename, data, api_key_id=principal.key_id)
    except ParseError as exc:
        raise service.as_http_error(exc) from exc
    return DocumentAccepted(
        document_id=accepted.document_id, version=accepted.version, status=accepted.status, unchanged=accepted.unchanged
    )


@router.get("/documents")
async def list_documents(
    _: IngestionKeyDep,
    session: TenantSessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[uuid.UUID | None, Query(description="the last document of the previous page")] = None,
) -> DocumentList:
    rows = await service.list_documents(session, limit=limit + 1, after=after)
    return DocumentList(
        data=[DocumentOut.model_validate(row, from_attributes=True) for row in rows[:limit]],
        has_more=len(rows) > limit,
    )


@router.get("/documents/{document_id}")
async def get_document(document_id: uuid.UUID, _: IngestionKeyDep, session: TenantSessionDep) -> DocumentOut:
    return DocumentOut.model_validate(await service.get_document(session, document_id), from_attributes=True)


@router.delete("/documents/{document_id}", status_code=204)
async def delete_document(document_id: uuid.UUID, principal: IngestionKeyDep, session: TenantSessionDep) -> Response:
    """Delete the document: its chunks and original bytes go in one transaction with the `kb.document.deleted`
    event, so no search finds it after."""
    await service.delete_document(session, principal.tenant_id, document_id)
    return Response(status_code=204)
