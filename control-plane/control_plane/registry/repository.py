"""All SQL of the registries: append a new version, read the current one or a given one.

A model alias's versions also carry its `status` (active / deprecated / deleted) and `replacement`:
a deprecation or deletion is a new version, so the history is the audit.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["Registry", "append_version", "get_version", "list_current"]

Registry = Literal["model_registry", "agent_registry", "tool_registry"]
_NAME_COLUMN = {"model_registry": "alias", "agent_registry": "name", "tool_registry": "name"}
_BODY_COLUMNS = {
    "model_registry": ("config", "status", "replacement"),
    "agent_registry": ("description", "input_schema", "output_schema", "manifest"),
    "tool_registry": ("description", "input_schema", "output_schema", "manifest"),
}
_JSONB = {"config", "input_schema", "output_schema", "manifest"}
# An agent's manifest is numbered as the version it is stored as (null stays null).
_VALUES = {
    (
        "agent_registry",
        "manifest",
    ): "cast(:manifest as jsonb) || jsonb_build_object('version', coalesce(max(version), 0) + 1)"
}


def _param(column: str, value: Any) -> Any:
    if column not in _JSONB:
        return value
    return None if value is None else orjson.dumps(value).decode()


def _row(table: Registry, row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["created_at"] = data["created_at"].isoformat()
    return data


async def append_version(
    session: AsyncSession, table: Registry, name: str, body: dict[str, Any], actor: str
) -> dict[str, Any]:
    """A new version (previous + 1) of `name`; concurrent writers of one name are serialised."""
    column = _NAME_COLUMN[table]
    await session.execute(text("select pg_advisory_xact_lock(hashtext(:lock))"), {"lock": f"{table}:{name}"})
    columns = _BODY_COLUMNS[table]
    values = ", ".join(_VALUES.get((table, c)) or (f"cast(:{c} as jsonb)" if c in _JSONB else f":{c}") for c in columns)
    params: dict[str, Any] = {c: _param(c, body.get(c)) for c in columns}
    if table == "model_registry":
        params["status"] = body.get("status", "active")
    row = (
        await session.execute(
            text(
                f"insert into {table} ({column}, version, {', '.join(columns)}, created_by)"  # noqa: S608  # nosec B608 - constant table and column names
                f" select :n, coalesce(max(version), 0) + 1, {values}, :a from {table} where {column} = :n"
                f" returning {column}, version, {', '.join(columns)}, created_at, created_by"
            ),
            {**params, "n": name, "a": actor},
        )
    ).one()
    return _row(table, row)


async def get_version(session: AsyncSession, table: Registry, name: str, version: int | None) -> dict[str, Any] | None:
    """One version, or the newest when `version` is None."""
    column = _NAME_COLUMN[table]
    columns = ", ".join(_BODY_COLUMNS[table])
    where = "and version = :v" if version is not None else ""
    row = (
        await session.execute(
            text(
                f"select {column}, version, {columns}, created_at, created_by from {table}"  # noqa: S608  # nosec B608 - constant table and column names
                f" where {column} = :n {where} order by version desc limit 1"
            ),
            {"n": name, "v": version},
        )
    ).first()
    return None if row is None else _row(table, row)


async def list_current(session: AsyncSession, table: Registry, *, deleted: bool = False) -> list[dict[str, Any]]:
    """The newest version of every name; a deleted model alias only with `deleted=True` (its tombstone)."""
    column = _NAME_COLUMN[table]
    columns = ", ".join(_BODY_COLUMNS[table])
    rows = await session.execute(
        text(
            f"select distinct on ({column}) {column}, version, {columns}, created_at, created_by from {table}"  # noqa: S608  # nosec B608 - constant table and column names
            f" order by {column}, version desc"
        )
    )
    found = [_row(table, row) for row in rows]
    return [r for r in found if deleted or r.get("status") != "deleted"]
