"""All SQL of the flags: rows in, `Flag` documents out. Runs in the caller's platform_admin transaction."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.flags import Flag, FlagValue, Variant

__all__ = [
    "FlagRow",
    "AuditRow",
    "lock_flag",
    "load_flags",
    "insert_flag",
    "update_flag",
    "touch_flag",
    "delete_flag",
    "get_override",
    "set_override",
    "delete_override",
    "tenant_exists",
    "insert_audit",
    "list_audit",
]

_FLAG_COLUMNS = "key, type, default_value, variants, min_value, max_value, description, version, updated_at, updated_by"


@dataclass(frozen=True)
class FlagRow:
    key: str
    type: str
    default_value: Any
    variants: tuple[Variant, ...]
    min_value: int | None
    max_value: int | None
    description: str
    version: int
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class AuditRow:
    id: int
    flag_key: str
    action: str
    scope: str
    old_value: Any
    new_value: Any
    actor: str
    reason: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "flag_key": self.flag_key,
            "action": self.action,
            "scope": self.scope,
            "old_value": self.old_value,
            "new_value": self.new_value,
            "actor": self.actor,
            "reason": self.reason,
            "at": self.at.isoformat(),
        }


def _jsonb(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _flag_row(row: Any) -> FlagRow:
    variants = tuple(Variant(str(v["value"]), v.get("weight")) for v in row.variants or ())
    return FlagRow(
        key=row.key,
        type=row.type,
        default_value=row.default_value,
        variants=variants,
        min_value=row.min_value,
        max_value=row.max_value,
        description=row.description,
        version=row.version,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


async def lock_flag(session: AsyncSession, key: str) -> FlagRow | None:
    """The flag's row, locked until the transaction ends (changes to one flag are serialised)."""
    row = (
        await session.execute(text(f"select {_FLAG_COLUMNS} from feature_flags where key = :k for update"), {"k": key})  # noqa: S608  # nosec B608 - constant table and column names
    ).first()
    return None if row is None else _flag_row(row)


async def load_flags(session: AsyncSession, key: str | None = None) -> list[Flag]:
    """Every flag (or one) with all its plan and tenant overrides."""
    where, params = ("where key = :k", {"k": key}) if key is not None else ("", {})
    rows = (
        await session.execute(text(f"select {_FLAG_COLUMNS} from feature_flags {where} order by key"), params)  # noqa: S608  # nosec B608 - constant table and column names
    ).all()
    if not rows:
        return []
    fwhere = "where flag_key = :k" if key is not None else ""
    plans: dict[str, dict[str, FlagValue]] = defaultdict(dict)
    for r in await session.execute(
        text(f"select flag_key, plan_code, value from flag_plan_overrides {fwhere}"),  # noqa: S608  # nosec B608 - constant table and column names
        params,
    ):
        plans[r.flag_key][r.plan_code] = r.value
    tenants: dict[str, dict[str, FlagValue]] = defaultdict(dict)
    sql = f"select flag_key, tenant_id, value from flag_tenant_overrides {fwhere}"  # noqa: S608  # nosec B608 - constant table and column names
    for r in await session.execute(text(sql), params):
        tenants[r.flag_key][str(r.tenant_id)] = r.value
    flags = []
    for row in rows:
        f = _flag_row(row)
        flags.append(
            Flag(
                key=f.key,
                type=f.type,
                default=f.default_value,
                version=f.version,
                variants=f.variants,
                min_value=f.min_value,
                max_value=f.max_value,
                description=f.description,
                plans=plans.get(f.key, {}),
                tenants=tenants.get(f.key, {}),
                updated_at=f.updated_at.isoformat(),
            )
        )
    return flags


def _variants_json(variants: Sequence[Variant]) -> str | None:
    return _jsonb([{"value": v.value, "weight": v.weight} for v in variants]) if variants else None


async def insert_flag(
    session: AsyncSession,
    *,
    key: str,
    type_: str,
    default: FlagValue,
    variants: Sequence[Variant],
    min_value: int | None,
    max_value: int | None,
    description: str,
    actor: str,
) -> bool:
    """False when the key already exists."""
    row = (
        await session.execute(
            text(
                "insert into feature_flags (key, type, default_value, variants, min_value, max_value, description,"
                " updated_by) values (:k, :t, cast(:d as jsonb), cast(:v as jsonb), :mn, :mx, :desc, :a)"
                " on conflict (key) do nothing returning key"
            ),
            {
                "k": key,
                "t": type_,
                "d": _jsonb(default),
                "v": _variants_json(variants),
                "mn": min_value,
                "mx": max_value,
                "desc": description,
                "a": actor,
            },
        )
    ).first()
    return row is not None


async def update_flag(session: AsyncSession, row: FlagRow, actor: str) -> None:
    """Write `row`'s definition and give the flag a new version."""
    await session.execute(
        text(
            "update feature_flags set default_value = cast(:d as jsonb), variants = cast(:v as jsonb),"
            " min_value = :mn, max_value = :mx, description = :desc, version = nextval('feature_flag_version_seq'),"
            " updated_at = now(), updated_by = :a where key = :k"
        ),
        {
            "k": row.key,
            "d": _jsonb(row.default_value),
            "v": _variants_json(row.variants),
            "mn": row.min_value,
            "mx": row.max_value,
            "desc": row.description,
            "a": actor,
        },
    )


async def touch_flag(session: AsyncSession, key: str, actor: str) -> None:
    """A new version after an override changed (the published document holds the overrides)."""
    await session.execute(
        text(
            "update feature_flags set version = nextval('feature_flag_version_seq'), updated_at = now(),"
            " updated_by = :a where key = :k"
        ),
        {"k": key, "a": actor},
    )


async def delete_flag(session: AsyncSession, key: str) -> None:
    await session.execute(text("delete from feature_flags where key = :k"), {"k": key})


def _override_target(plan: str | None, tenant: uuid.UUID | None) -> tuple[str, str, Any]:
    if tenant is not None:
        return "flag_tenant_overrides", "tenant_id", tenant
    return "flag_plan_overrides", "plan_code", plan


async def get_override(session: AsyncSession, key: str, *, plan: str | None, tenant: uuid.UUID | None) -> Any:
    table, column, target = _override_target(plan, tenant)
    row = (
        await session.execute(
            text(f"select value from {table} where flag_key = :k and {column} = :t"),  # noqa: S608  # nosec B608 - constant table and column names
            {"k": key, "t": target},
        )
    ).first()
    return None if row is None else row.value


async def set_override(
    session: AsyncSession, key: str, value: FlagValue, actor: str, *, plan: str | None, tenant: uuid.UUID | None
) -> None:
    table, column, target = _override_target(plan, tenant)
    await session.execute(
        text(
            f"insert into {table} (flag_key, {column}, value, updated_by) values (:k, :t, cast(:v as jsonb), :a)"  # noqa: S608  # nosec B608 - constant table and column names
            f" on conflict (flag_key, {column}) do update set value = excluded.value, updated_at = now(),"
            " updated_by = excluded.updated_by"
        ),
        {"k": key, "t": target, "v": _jsonb(value), "a": actor},
    )


async def delete_override(session: AsyncSession, key: str, *, plan: str | None, tenant: uuid.UUID | None) -> None:
    table, column, target = _override_target(plan, tenant)
    await session.execute(text(f"delete from {table} where flag_key = :k and {column} = :t"), {"k": key, "t": target})  # noqa: S608  # nosec B608 - constant table and column names


async def tenant_exists(session: AsyncSession, tenant: uuid.UUID) -> bool:
    row = (await session.execute(text("select 1 from tenants where id = :t"), {"t": tenant})).first()
    return row is not None


async def insert_audit(
    session: AsyncSession,
    *,
    key: str,
    action: str,
    scope: str,
    tenant: uuid.UUID | None,
    old: Any,
    new: Any,
    actor: str,
    reason: str,
) -> None:
    await session.execute(
        text(
            "insert into flag_audit_log (flag_key, action, scope, tenant_id, old_value, new_value, actor, reason)"
            " values (:k, :act, :s, :t, cast(:o as jsonb), cast(:n as jsonb), :a, :r)"
        ),
        {
            "k": key,
            "act": action,
            "s": scope,
            "t": tenant,
            "o": _jsonb(old),
            "n": _jsonb(new),
            "a": actor,
            "r": reason,
        },
    )


async def list_audit(
    session: AsyncSession, *, flag: str | None, tenant: uuid.UUID | None, limit: int, before_id: int | None
) -> list[AuditRow]:
    """Newest first; `before_id` pages back."""
    conditions = ["true"]
    params: dict[str, object] = {"lim": limit}
    if flag is not None:
        conditions.append("flag_key = :k")
        params["k"] = flag
    if tenant is not None:
        conditions.append("tenant_id = :t")
        params["t"] = tenant
    if before_id is not None:
        conditions.append("id < :b")
        params["b"] = before_id
    rows = await session.execute(
        text(
            "select id, flag_key, action, scope, old_value, new_value, actor, reason, at from flag_audit_log"  # noqa: S608  # nosec B608 - constant table and column names
            f" where {' and '.join(conditions)} order by id desc limit :lim"
        ),
        params,
    )
    return [AuditRow(**r._mapping) for r in rows]
