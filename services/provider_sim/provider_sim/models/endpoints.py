"""`GET /v1/models`: OpenAI's list shape, or Anthropic's when `anthropic-version` is sent."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from provider_sim.anthropic.endpoints import require_api_key
from provider_sim.errors import Provider, SimError, error_response
from provider_sim.openai.endpoints import require_bearer
from provider_sim.state import sim_state

__all__ = ["models_routes"]

_CREATED = 1_704_067_200  # 2024-01-01T00:00:00Z, a fixed "created" for every simulated model


def _openai_model(model_id: str) -> dict[str, Any]:
    """OpenAI `model` object."""
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": "provider-sim"}


def _anthropic_model(model_id: str) -> dict[str, Any]:
    """Anthropic `model` object."""
    return {"type": "model", "id": model_id, "display_name": model_id, "created_at": "2024-01-01T00:00:00Z"}


def _authenticate(request: Request) -> Provider:
    """Which API the caller speaks, after checking its credentials for that API."""
    if "anthropic-version" in request.headers:
        require_api_key(request)
        return "anthropic"
    require_bearer(request)
    return "openai"


async def list_models(request: Request) -> Response:
    """GET /v1/models."""
    provider: Provider = "anthropic" if "anthropic-version" in request.headers else "openai"
    try:
        provider = _authenticate(request)
    except SimError as err:
        return error_response(err, provider, "req_models")
    state = sim_state(request)
    names = state.advertised_models()
    if provider == "openai":
        body: dict[str, Any] = {"object": "list", "data": [_openai_model(name) for name in names]}
    else:
        body = {
            "data": [_anthropic_model(name) for name in names],
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }
    return Response(orjson.dumps(body), media_type="application/json")


async def retrieve_model(request: Request) -> Response:
    """GET /v1/models/{model}: any model name exists."""
    try:
        provider = _authenticate(request)
    except SimError as err:
        return error_response(err, "openai", "req_models")
    model_id = request.path_params["model"]
    body = _openai_model(model_id) if provider == "openai" else _anthropic_model(model_id)
    return Response(orjson.dumps(body), media_type="application/json")


def models_routes() -> list[Route]:
    """Model listing routes shared by both APIs."""
    return [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
    ]
