"""`/admin/flags...`: the platform admin's flag API (every route needs the platform-admin key)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

import nats
from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse

from aiaas.auth import AdminDep, AdminPrincipalDep
from aiaas.errors import ServiceUnavailable
from control_plane.flags.schemas import FLAG_KEY_PATTERN, PLAN_PATTERN, FlagCreate, FlagUpdate, OverrideIn, ReasonIn
from control_plane.state import StateDep

__all__ = ["router"]

router = APIRouter(prefix="/admin/flags", tags=["flags"], dependencies=[AdminDep])

KeyPath = Annotated[str, Path(pattern=FLAG_KEY_PATTERN)]
PlanPath = Annotated[str, Path(pattern=PLAN_PATTERN)]


def _flag_body(flag: Any, published: bool | None = None) -> dict[str, Any]:
    body: dict[str, Any] = flag.to_json()
    if published is not None:
        body["published"] = published
    return body


@router.get("")
async def list_flags(state: StateDep) -> dict[str, Any]:
    """Every flag with its overrides."""
    return {"data": [_flag_body(flag) for flag in await state.flags.all()]}


@router.post("", status_code=201)
async def create_flag(state: StateDep, body: FlagCreate, admin: AdminPrincipalDep) -> dict[str, Any]:
    """Create a flag (audited)."""
    return _flag_body(*await state.flags.create(body, admin.name))


@router.get("/audit")
async def read_audit(
    state: StateDep,
    flag: Annotated[str | None, Query(pattern=FLAG_KEY_PATTERN)] = None,
    tenant_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> dict[str, Any]:
    """The audit log, newest first, optionally for one flag and/or one tenant."""
    rows = await state.flags.audit(flag=flag, tenant=tenant_id, limit=limit, before_id=before_id)
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
async def get_flag(state: StateDep, key: KeyPath) -> dict[str, Any]:
    return _flag_body(await state.flags.get(key))


@router.patch("/{key}")
async def update_flag(state: StateDep, key: KeyPath, body: FlagUpdate, admin: AdminPrincipalDep) -> dict[str, Any]:
    """Change the default, description, variants or bounds (audited)."""
    return _flag_body(*await state.flags.update(key, body, admin.name))


@router.delete("/{key}")
async def delete_flag(
    state: StateDep, key: KeyPath, body: Annotated[ReasonIn, Body()], admin: AdminPrincipalDep
) -> JSONResponse:
    """Delete a flag and its overrides (audited); services then get their caller's default."""
    published = await state.flags.delete(key, body.reason, admin.name)
    return JSONResponse({"key": key, "deleted": True, "published": published})


@router.put("/{key}/plans/{plan_code}")
async def set_plan_override(
    state: StateDep, key: KeyPath, plan_code: PlanPath, body: OverrideIn, admin: AdminPrincipalDep
) -> dict[str, Any]:
    return _flag_body(*await state.flags.set_override(key, body.value, body.reason, admin.name, plan=plan_code))


@router.delete("/{key}/plans/{plan_code}")
async def unset_plan_override(
    state: StateDep, key: KeyPath, plan_code: PlanPath, body: Annotated[ReasonIn, Body()], admin: AdminPrincipalDep
) -> dict[str, Any]:
    return _flag_body(*await state.flags.unset_override(key, body.reason, admin.name, plan=plan_code))


@router.put("/{key}/tenants/{tenant_id}")
async def set_tenant_override(
    state: StateDep, key: KeyPath, tenant_id: uuid.UUID, body: OverrideIn, admin: AdminPrincipalDep
) -> dict[str, Any]:
    return _flag_body(*await state.flags.set_override(key, body.value, body.reason, admin.name, tenant=tenant_id))


@router.delete("/{key}/tenants/{tenant_id}")
async def unset_tenant_override(
    state: StateDep, key: KeyPath, tenant_id: uuid.UUID, body: Annotated[ReasonIn, Body()], admin: AdminPrincipalDep
) -> dict[str, Any]:
    return _flag_body(*await state.flags.unset_override(key, body.reason, admin.name, tenant=tenant_id))
