"""All SQL of router versions (`router_versions`, `router_version_transitions`; migration 0021).

Writes run on platform_admin sessions (the router admin listener); the router process reads the serving
set and artifacts on app_runtime (`catalogue_read`). Status changes take one transaction-scoped advisory
lock, so an admin and the canary monitor never interleave two changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "VersionRow",
    "ServingRow",
    "TransitionRow",
    "lock_versions",
    "insert_version",
    "get_version",
    "list_versions",
    "serving_rows",
    "artifact_bytes",
    "set_status",
    "insert_transition",
    "transitions",
]

_INSERT = (
    "insert into router_versions (id, sha256, data_hash, eval_report, tiers, artifact, created_at,"
    " created_by, status_changed_at, status_changed_by)"
    " values (:id, :sha, :data_hash, cast(:report as jsonb), :tiers, :artifact, :now, :actor, :now, :actor)"
)
_UPDATE = (
    "update router_versions set status = :status, share = :share, status_reason = :reason,"
    " status_detail = cast(:detail as jsonb), status_changed_at = :now, status_changed_by = :actor,"
    " activated_at = case when :activated then cast(:now as timestamptz) else activated_at end"
)
_COLUMNS = (
    "id, sha256, data_hash, eval_report, tiers, status, share, status_reason, status_detail, created_at,"
    " created_by, status_changed_at, status_changed_by, activated_at, octet_length(artifact) as artifact_bytes"
)


@dataclass(frozen=True)
class VersionRow:
    id: str
    sha256: str
    data_hash: str
    eval_report: dict[str, Any]
    tiers: list[str]
    status: str
    share: float
    status_reason: str
    status_detail: dict[str, Any]
    created_at: datetime
    created_by: str
    status_changed_at: datetime
    status_changed_by: str
    activated_at: datetime | None
    artifact_bytes: int


@dataclass(frozen=True)
class ServingRow:
    """A version that serves traffic: the stable one, or the canary with its share."""

    id: str
    sha256: str
    status: str
    share: float
    activated_at: datetime


@dataclass(frozen=True)
class TransitionRow:
    from_status: str | None
    to_status: str
    share: float
    actor: str
    reason: str
    detail: dict[str, Any]
    at: datetime


def _version(row: Row[Any]) -> VersionRow:
    data = dict(row._mapping)
    data["tiers"] = list(data["tiers"] or [])
    return VersionRow(**data)


async def lock_versions(session: AsyncSession) -> None:
    """Serialise status changes until the transaction ends."""
    await session.execute(text("select pg_advisory_xact_lock(hashtext('router_versions'))"))


async def insert_version(
    session: AsyncSession,
    *,
    id: str,
    sha256: str,
    data_hash: str,
    eval_report: dict[str, Any],
    tiers: list[str],
    artifact: bytes,
    actor: str,
    now: datetime,
) -> VersionRow | None:
    """The new row, or None when the id or the sha256 is taken (nothing written)."""
    row = (
        await session.execute(
            text(
                _INSERT + f" on conflict do nothing returning {_COLUMNS}"  # noqa: S608  # nosec B608 - constant columns
            ),
            {
                "id": id,
                "sha": sha256,
                "data_hash": data_hash,
                "report": orjson.dumps(eval_report).decode(),
                "tiers": tiers,
                "artifact": artifact,
                "now": now,
                "actor": actor,
            },
        )
    ).first()
    return None if row is None else _version(row)


async def get_version(session: AsyncSession, id: str, *, by_sha256: bool = False) -> VersionRow | None:
    key = "sha256" if by_sha256 else "id"
    row = (
        await session.execute(
            text(f"select {_COLUMNS} from router_versions where {key} = :k"),  # noqa: S608  # nosec B608 - constant column names
            {"k": id},
        )
    ).first()
    return None if row is None else _version(row)


async def list_versions(session: AsyncSession, status: str | None = None) -> list[VersionRow]:
    """Every version (or those with `status`), newest first."""
    rows = await session.execute(
        text(
            f"select {_COLUMNS} from router_versions"  # noqa: S608  # nosec B608 - constant column names
            " where cast(:status as text) is null or status = cast(:status as text)"
            " order by created_at desc, id"
        ),
        {"status": status},
    )
    return [_version(row) for row in rows]


async def serving_rows(session: AsyncSession) -> list[ServingRow]:
    """The stable and the canary version (either may be missing)."""
    rows = await session.execute(
        text(
            "select id, sha256, status, share, activated_at from router_versions"
            " where status in ('stable', 'canary') order by status"
        )
    )
    return [ServingRow(**row._mapping) for row in rows]


async def artifact_bytes(session: AsyncSession, sha256: str) -> bytes | None:
    row = (
        await session.execute(text("select artifact from router_versions where sha256 = :sha"), {"sha": sha256})
    ).first()
    return None if row is None else bytes(row.artifact)


async def set_status(
    session: AsyncSession,
    id: str,
    *,
    status: str,
    share: float,
    reason: str,
    detail: dict[str, Any],
    actor: str,
    now: datetime,
    activated: bool,
) -> VersionRow:
    """Move `id` to `status` (with `share`); `activated` stamps activated_at (a new canary or stable run)."""
    row = (
        await session.execute(
            text(
                _UPDATE + f" where id = :id returning {_COLUMNS}"  # noqa: S608  # nosec B608 - constant columns
            ),
            {
                "id": id,
                "status": status,
                "share": share,
                "reason": reason[:500],
                "detail": orjson.dumps(detail).decode(),
                "now": now,
                "actor": actor[:200],
                "activated": activated,
            },
        )
    ).one()
    return _version(row)


async def insert_transition(
    session: AsyncSession,
    version_id: str,
    *,
    from_status: str | None,
    to_status: str,
    share: float,
    actor: str,
    reason: str,
    detail: dict[str, Any],
    now: datetime,
) -> None:
    await session.execute(
        text(
            "insert into router_version_transitions (version_id, from_status, to_status, share, actor, reason,"
            " detail, at) values (:v, :from_status, :to_status, :share, :actor, :reason, cast(:detail as jsonb), :now)"
        ),
        {
            "v": version_id,
            "from_status": from_status,
            "to_status": to_status,
            "share": share,
            "actor": actor[:200],
            "reason": reason[:500],
            "detail": orjson.dumps(detail).decode(),
            "now": now,
        },
    )


async def transitions(session: AsyncSession, version_id: str) -> list[TransitionRow]:
    """The version's status history, oldest first."""
    rows = await session.execute(
        text(
            "select from_status, to_status, share, actor, reason, detail, at from router_version_transitions"
            " where version_id = :v order by id"
        ),
        {"v": version_id},
    )
    return [TransitionRow(**row._mapping) for row in rows]
