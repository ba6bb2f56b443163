"""POST /v1/router/decide as a fast route (aiaas.fast_route: in front of FastAPI's middleware and router, the hot
path the gateway calls for every `model: "auto"` request) and GET /v1/router/decisions on FastAPI."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import Send

from aiaas.auth import Principal
from aiaas.deps import TenantSessionDep, require_scope
from aiaas.errors import BadRequest, ServiceUnavailable, Unprocessable, error_body
from aiaas.fast_route import FastRequest, send_json
from aiaas.scopes import ROUTER
from router.callers import TENANT_HEADER, resolve_caller
from router.decide import repository
from router.decide.schemas import DecideRequest, DecideResponse, RecentDecision, RecentDecisions
from router.decide.service import decide
from router.state import RouterState

__all__ = ["DECIDE_PATH", "Decide", "router", "parse_decide"]

DECIDE_PATH = "/v1/router/decide"
_TENANT_HEADER = TENANT_HEADER.encode()
_MAX_LISTED_ERRORS = 5

router = APIRouter(prefix="/v1/router", tags=["router"])


@router.get("/decisions")
async def recent_decisions(
    _principal: Annotated[Principal, require_scope(ROUTER)],
    session: TenantSessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RecentDecisions:
    """The tenant's latest recorded decisions, newest first (recorded by the consumer, so a moment late)."""
    rows = await repository.recent_decisions(session, limit)
    return RecentDecisions(data=[RecentDecision.model_validate(row) for row in rows])


def parse_decide(body: bytes) -> DecideRequest:
    """Bytes -> a validated request: 400 for what is not a JSON object, 422 naming what is invalid (never the input)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("We could not parse the JSON body of your request.", code="invalid_json") from exc
    if not isinstance(payload, dict):
        raise Unprocessable("The request body must be a JSON object.", code="invalid_request")
    try:
        return DecideRequest.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        parts = [f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in errors]
        message = "; ".join(parts[:_MAX_LISTED_ERRORS])
        param = ".".join(str(p) for p in errors[0]["loc"]) or None
        raise Unprocessable(f"Invalid request: {message}", code="invalid_request", param=param) from exc


def _header(request: FastRequest, name: bytes) -> str | None:
    for key, value in request.scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class Decide:
    """POST /v1/router/decide: the tier (and its gateway alias) for one chat request, the p per tier and why."""

    path = DECIDE_PATH

    async def serve(self, request: FastRequest, send: Send) -> int:
        state = request.state
        assert isinstance(state, RouterState)
        # Credentials before the body is parsed: an unauthenticated caller learns nothing about it.
        try:
            caller = await resolve_caller(
                authorization=request.authorization,
                tenant_header=_header(request, _TENANT_HEADER),
                resolver=state.resolver,
                admin_keys=state.admin_keys,
                service_keys=state.settings.service_keys,
                tenants=state.tenants,
            )
        except (SQLAlchemyError, OSError) as exc:
            # A key or tenant not cached and Postgres unreachable: the gateway falls back on a 503, as on any 5xx.
            raise ServiceUnavailable(
                "The database is unavailable right now; retry.", code="database_unavailable", retry_after=1
            ) from exc
        reply = await decide(state, caller.tenant_id, parse_decide(await request.body()))
        await send_json(send, 200, orjson.dumps(reply.model_dump(mode="json")), ())
        return 200

    def document(self, openapi: dict[str, Any]) -> None:
        """Describe the route, its request and reply in the OpenAPI schema (it has no FastAPI route)."""
        components = openapi.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for model in (DecideRequest, DecideResponse):
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in schema.pop("$defs", {}).items():
                schemas[name] = definition
            schemas[model.__name__] = schema
        error = {
            "description": "error shape",
            "content": {"application/json": {"example": error_body("invalid_request_error", "invalid_request", "...")}},
        }
        openapi.setdefault("paths", {})[DECIDE_PATH] = {
            "post": {
                "tags": ["router"],
                "summary": "Decide",
                "description": "The tier for one chat request. A tenant key with the `router` scope, or the gateway's "
                f"service key (a listed platform-admin key) with `{TENANT_HEADER}`.",
                "operationId": "decide_v1_router_decide_post",
                "security": [{"HTTPBearer": [ROUTER]}, {"AdminKey": [], "TenantId": []}],
                "parameters": [
                    {
                        "name": TENANT_HEADER,
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "format": "uuid"},
                        "description": "With the service key: the tenant decided for",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DecideRequest"}}},
                },
                "responses": {
                    "200": {
                        "description": "The decision",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DecideResponse"}}},
                    },
                    **{str(code): error for code in (400, 401, 403, 413, 422, 503)},
                },
            }
        }
        schemes = components.setdefault("securitySchemes", {})
        schemes.setdefault("HTTPBearer", {"type": "http", "scheme": "bearer"})
        schemes.setdefault("AdminKey", {"type": "http", "scheme": "bearer", "description": "sk-admin-... key"})
        schemes.setdefault("TenantId", {"type": "apiKey", "in": "header", "name": TENANT_HEADER})
