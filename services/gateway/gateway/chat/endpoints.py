"""GET /v1/models (POST /v1/chat/completions is the plain ASGI endpoint in chat/asgi_endpoint.py)."""

from __future__ import annotations

import time

from fastapi import APIRouter

from gateway.deps import ChatDep, StateDep

router = APIRouter(prefix="/v1", tags=["chat"])


@router.get("/models")
async def list_models(_principal: ChatDep, state: StateDep) -> dict[str, object]:
    """List the model aliases this gateway serves."""
    created = int(time.time())
    return {
        "object": "list",
        "data": [
            {"id": alias.name, "object": "model", "created": created, "owned_by": alias.owned_by}
            for alias in state.catalog.aliases()
        ],
    }
