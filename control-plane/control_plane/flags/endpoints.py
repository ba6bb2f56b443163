"""`/admin/flags...`: the platform admin's flag API (every route needs the platform-admin key)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

import nats
from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse

from aiaas.errors import ServiceUnavailable
from control_plane.deps import ActorDep, AdminDep, StateDep
from control_plane.flags.schemas import FLAG_KEY_PATTERN, PLAN_PATTERN, FlagCreate, FlagUpdate, OverrideIn, ReasonIn
from control_plane.flags.service import FlagService

__all__ = ["router"]

router = APIRouter(prefix="/admin/flags", tags=["flags"], dependencies=[AdminDep])

KeyPath = Annotated[str, Path(pattern=FLAG_KEY_PATTERN)]
PlanPath = Annotated[str, Path(pattern=PLAN_PATTERN)]


def _service(request: Request) -> FlagService:
    return request.app.state.flag_service  # type: ignore[no-any-return]


def _flag_body(flag: Any, published: bool | None = None) -> dict[str, Any]:
    body: dict[str, Any] = flag.to_json()
    if published is not None:
        body["published"] = published
    return body


@router.get("")
async def list_flags(request: Request) -> dict[str, Any]:
    """Every flag with its overrides."""
    return {"data": [_flag_body(flag) for flag in await _service(request).all()]}


@router.post("", status_code=201)
async def create_flag(request: Request, body: FlagCreate, actor: ActorDep) -> dict[str, Any]:
    """Create a flag (audited)."""
    return _flag_body(*await _service(request).create(body, actor))


@router.get("/audit")
async def read_audit(
    request: Request,
    flag: Annotated[str | None, Query(pattern=FLAG_KEY_PATTERN)] = None,
    tenant_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> dict[str, Any]:
    """The audit log, newest first, optionally for one flag and/or one tenant."""
    rows = await _service(request).audit(flag=flag, tenant=tenant_id, limit=limit, before_id=before_id)
    return {"data": [row.to_json() for row in rows]}


@router.post("/reconcile")
async def reconcile(state: StateDep) -> dict[str, int]:
    """Make the KV bucket equal Postgres now (it also happens at start and periodically)."""
    try:
        async with asyncio.timeout(10):
            return await state.publisher.reconcile(state.admin_sessions)
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        raise ServiceUnavailable(f"NATS is unreachable ({type(exc).__name__}); retry later.", retry_after=5) from None


@router.get("/{key}")
async def get_flag(request: Request, key: KeyPath) -> dict[str, Any]:
    return _flag_body(await _service(request).get(key))


@router.patch("/{key}")
async def update_flag(request: Request, key: KeyPath, body: FlagUpdate, actor: ActorDep) -> dict[str, Any]:
    """Change the default, description, variants or bounds (audited)."""
    return _flag_body(*await _service(request).update(key, body, actor))


@router.delete("/{key}")
async def delete_flag(
    request: Request, key: KeyPath, body: Annotated[ReasonIn, Body()], actor: ActorDep
) -> JSONResponse:
    """Delete a flag and its overrides (audited); services then get their caller's default."""
    published = await _service(request).delete(key, body.reason, actor)
    return JSONResponse({"key": key, "deleted": True, "published": published})


@router.put("/{key}/plans/{plan_code}")
async def set_plan_override(
    request: Request, key: KeyPath, plan_code: PlanPath, body: OverrideIn, actor: ActorDep
) -> dict[str, Any]:
    return _flag_body(*await _service(request).set_override(key, body.value, body.reason, actor, plan=plan_code))


@router.delete("/{key}/plans/{plan_code}")
async def unset_plan_override(
    request: Request, key: KeyPath, plan_code: PlanPath, body: Annotated[ReasonIn, Body()], actor: ActorDep
) -> dict[str, Any]:
    return _flag_body(*await _service(request).unset_override(key, body.reason, actor, plan=plan_code))


@router.put("/{key}/tenants/{tenant_id}")
async def set_tenant_override(
    request: Request, key: KeyPath, tenant_id: uuid.UUID, body: OverrideIn, actor: ActorDep
) -> dict[str, Any]:
    return _flag_body(*await _service(request).set_override(key, body.value, body.reason, actor, tenant=tenant_id))


@router.delete("/{key}/tenants/{tenant_id}")
async def unset_tenant_override(
    request: Request, key: KeyPath, tenant_id: uuid.UUID, body: Annotated[ReasonIn, Body()], actor: ActorDep
) -> dict[str, Any]:
    return _flag_body(*await _service(request).unset_override(key, body.reason, actor, tenant=tenant_id))
