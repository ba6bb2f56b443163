"""`/admin/router/versions`: register, list, show, activate, share, roll back (platform-admin keys only).

Served by the router admin listener (`python -m router.admin`), which holds the platform_admin role; the
tenant-facing router process only reads which versions serve.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from aiaas.auth import AdminDep, AdminPrincipalDep
from router.state import AdminStateDep
from router.versions.schemas import ID_PATTERN, ActivateIn, RegisterIn, RollbackIn, ShareIn, VersionOut, version_out

__all__ = ["router"]

router = APIRouter(prefix="/admin/router/versions", tags=["router versions"], dependencies=[AdminDep])

VersionId = Annotated[str, Path(pattern=ID_PATTERN, max_length=100)]
Status = Literal["registered", "canary", "stable", "rolled_back", "retired"]


@router.post("", status_code=201)
async def register_version(
    state: AdminStateDep, body: RegisterIn, admin: AdminPrincipalDep, response: Response
) -> VersionOut:
    """Register an artifact (it must load: 422 `invalid_artifact` otherwise). The same artifact again: 200."""
    row, created = await state.versions.register(body, admin.name)
    if not created:
        response.status_code = 200
    return version_out(row)


@router.get("")
async def list_versions(state: AdminStateDep, status: Annotated[Status | None, Query()] = None) -> dict[str, object]:
    """Every version, newest first (or those with `status`); `serving` names the stable and canary ones."""
    rows = await state.versions.list_all(status)
    stable = next((r.id for r in rows if r.status == "stable"), None)
    canary = next((r for r in rows if r.status == "canary"), None)
    return {
        "data": [version_out(row) for row in rows],
        "serving": {
            "stable": stable or state.versions_default,
            "stable_is_default_artifact": stable is None,
            "canary": None if canary is None else canary.id,
            "canary_share": 0.0 if canary is None else canary.share,
        },
    }


@router.get("/{version_id}")
async def get_version(state: AdminStateDep, version_id: VersionId) -> VersionOut:
    """One version with its status history."""
    row, history = await state.versions.get(version_id)
    return version_out(row, history)


@router.post("/{version_id}/activate")
async def activate_version(
    state: AdminStateDep, version_id: VersionId, body: ActivateIn, admin: AdminPrincipalDep
) -> VersionOut:
    """`{"mode": "canary", "share": 0.2}` starts a canary; `{"mode": "stable"}` makes it stable (promote)."""
    return version_out(await state.versions.activate(version_id, body, admin.name))


@router.put("/{version_id}/share")
async def set_share(state: AdminStateDep, version_id: VersionId, body: ShareIn, admin: AdminPrincipalDep) -> VersionOut:
    """Change a running canary's share of conversations."""
    return version_out(await state.versions.set_share(version_id, body.share, admin.name))


@router.post("/{version_id}/rollback")
async def rollback_version(
    state: AdminStateDep, version_id: VersionId, admin: AdminPrincipalDep, body: RollbackIn | None = None
) -> VersionOut:
    """Roll back the canary (share 0, `router.canary.rolled_back`), or the stable version (the last retired one
    serves again; none: the default artifact)."""
    reason = body.reason if body is not None else ""
    return version_out(await state.versions.rollback(version_id, reason, admin.name))
