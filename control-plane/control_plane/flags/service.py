"""Flag changes: each one is a transaction writing the flag rows and one audit row, then a KV publish.

Services never commit by hand here: `admin_session` commits when the block ends without error.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session
from aiaas.errors import BadRequest, NotFound, PlatformError
from aiaas.flags import Flag, FlagValue, FlagValueError, Variant, validate_value
from aiaas.flags.seed import SEED_FLAGS
from control_plane.flags import repository as repo
from control_plane.flags.publisher import FlagPublisher
from control_plane.flags.schemas import FlagCreate, FlagUpdate, VariantIn

__all__ = ["FlagService", "Conflict", "SEED_FLAGS", "RESERVED_KEYS"]

RESERVED_KEYS = frozenset({"audit", "reconcile"})
# Created at start when missing (never overwritten): aiaas.flags.seed, what the services read.


class Conflict(PlatformError):
    status = 409
    type = "invalid_request_error"
    default_code = "conflict"


def _variants(raw: list[VariantIn | str] | None) -> tuple[Variant, ...]:
    if raw is None:
        return ()
    variants = tuple(Variant(v, None) if isinstance(v, str) else Variant(v.value, v.weight) for v in raw)
    if not variants:
        raise BadRequest("A variant flag needs at least one variant.", code="invalid_variants", param="variants")
    if len({v.value for v in variants}) != len(variants):
        raise BadRequest("Variant values must be unique.", code="invalid_variants", param="variants")
    if any(v.weight is not None for v in variants) and not sum(v.weight or 0 for v in variants):
        raise BadRequest("Variant weights must not all be 0.", code="invalid_variants", param="variants")
    return variants


def _check(row: repo.FlagRow, value: Any, param: str) -> FlagValue:
    try:
        return validate_value(row.type, value, variants=row.variants, min_value=row.min_value, max_value=row.max_value)
    except FlagValueError as exc:
        raise BadRequest(
            f"Invalid value for flag '{row.key}' ({row.type}): {exc.message}.", code="invalid_value", param=param
        ) from None


def _check_definition(row: repo.FlagRow) -> None:
    if row.type == "variant" and not row.variants:
        raise BadRequest("A variant flag needs its variants.", code="invalid_variants", param="variants")
    if row.type != "variant" and row.variants:
        raise BadRequest("Only variant flags take variants.", code="invalid_variants", param="variants")
    if row.type != "integer" and (row.min_value is not None or row.max_value is not None):
        raise BadRequest("Only integer flags take min_value/max_value.", code="invalid_bounds", param="min_value")
    if row.min_value is not None and row.max_value is not None and row.min_value > row.max_value:
        raise BadRequest("min_value must be <= max_value.", code="invalid_bounds", param="min_value")


def _definition(row: repo.FlagRow) -> dict[str, Any]:
    return {
        "default": row.default_value,
        "variants": [{"value": v.value, "weight": v.weight} for v in row.variants] or None,
        "min_value": row.min_value,
        "max_value": row.max_value,
        "description": row.description,
    }


def _scope(plan: str | None, tenant: uuid.UUID | None) -> str:
    return f"tenant:{tenant}" if tenant is not None else f"plan:{plan}"


class FlagService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], publisher: FlagPublisher) -> None:
        self._sessions = sessions
        self._publisher = publisher

    async def all(self) -> list[Flag]:
        async with admin_session(self._sessions) as session:
            return await repo.load_flags(session)

    async def get(self, key: str) -> Flag:
        async with admin_session(self._sessions) as session:
            return await self._load(session, key)

    @staticmethod
    async def _load(session: AsyncSession, key: str) -> Flag:
        flags = await repo.load_flags(session, key)
        if not flags:
            raise NotFound(f"No flag '{key}'.", code="flag_not_found", param="key")
        return flags[0]

    @staticmethod
    async def _locked(session: AsyncSession, key: str) -> repo.FlagRow:
        row = await repo.lock_flag(session, key)
        if row is None:
            raise NotFound(f"No flag '{key}'.", code="flag_not_found", param="key")
        return row

    async def _published(self, flag: Flag) -> tuple[Flag, bool]:
        return flag, await self._publisher.publish(flag)

    async def create(self, body: FlagCreate, actor: str) -> tuple[Flag, bool]:
        if body.key in RESERVED_KEYS:
            raise BadRequest(f"'{body.key}' is a reserved name.", code="reserved_key", param="key")
        async with admin_session(self._sessions) as session:
            flag = await self._create(session, body, actor)
        return await self._published(flag)

    async def _create(self, session: AsyncSession, body: FlagCreate, actor: str) -> Flag:
        row = repo.FlagRow(
            key=body.key,
            type=body.type,
            default_value=None,
            variants=_variants(body.variants),
            min_value=body.min_value,
            max_value=body.max_value,
            description=body.description,
            version=0,
            updated_at=None,  # type: ignore[arg-type]  # a draft checked before the insert, never stored or shown
            updated_by=actor,
        )
        _check_definition(row)
        default = _check(row, body.default, "default")
        created = await repo.insert_flag(
            session,
            key=row.key,
            type_=row.type,
            default=default,
            variants=row.variants,
            min_value=row.min_value,
            max_value=row.max_value,
            description=row.description,
            actor=actor,
        )
        if not created:
            raise Conflict(f"Flag '{body.key}' already exists.", code="flag_exists", param="key")
        await repo.insert_audit(
            session,
            key=row.key,
            action="create",
            scope="default",
            tenant=None,
            old=None,
            new=default,
            actor=actor,
            reason=body.reason,
        )
        return await self._load(session, row.key)

    async def update(self, key: str, body: FlagUpdate, actor: str) -> tuple[Flag, bool]:
        sent = body.model_fields_set - {"reason"}
        if not sent:
            raise BadRequest("Send at least one field to change.", code="empty_update")
        async with admin_session(self._sessions) as session:
            old = await self._locked(session, key)
            new = replace(
                old,
                default_value=body.default if "default" in sent else old.default_value,
                variants=_variants(body.variants) if "variants" in sent else old.variants,
                min_value=body.min_value if "min_value" in sent else old.min_value,
                max_value=body.max_value if "max_value" in sent else old.max_value,
                description=body.description
                if "description" in sent and body.description is not None
                else old.description,
            )
            _check_definition(new)
            new = replace(new, default_value=_check(new, new.default_value, "default"))
            # A definition change must keep every override valid (variants removed, bounds narrowed).
            current = await self._load(session, key)
            for plan, value in current.plans.items():
                _check(new, value, f"plans.{plan}")
            for tenant, value in current.tenants.items():
                _check(new, value, f"tenants.{tenant}")
            await repo.update_flag(session, new, actor)
            # Only the default sent: old -> new default; anything else: old -> new whole definition.
            audited = (lambda r: r.default_value) if sent == {"default"} else _definition
            await repo.insert_audit(
                session,
                key=key,
                action="update",
                scope="default",
                tenant=None,
                old=audited(old),
                new=audited(new),
                actor=actor,
                reason=body.reason,
            )
            flag = await self._load(session, key)
        return await self._published(flag)

    async def delete(self, key: str, reason: str, actor: str) -> bool:
        async with admin_session(self._sessions) as session:
            old = await self._locked(session, key)
            await repo.delete_flag(session, key)
            await repo.insert_audit(
                session,
                key=key,
                action="delete",
                scope="default",
                tenant=None,
                old=old.default_value,
                new=None,
                actor=actor,
                reason=reason,
            )
        return await self._publisher.unpublish(key)

    async def set_override(
        self,
        key: str,
        value: Any,
        reason: str,
        actor: str,
        *,
        plan: str | None = None,
        tenant: uuid.UUID | None = None,
    ) -> tuple[Flag, bool]:
        async with admin_session(self._sessions) as session:
            row = await self._locked(session, key)
            checked = _check(row, value, "value")
            if tenant is not None and not await repo.tenant_exists(session, tenant):
                raise NotFound(f"No tenant '{tenant}'.", code="tenant_not_found", param="tenant_id")
            old = await repo.get_override(session, key, plan=plan, tenant=tenant)
            await repo.set_override(session, key, checked, actor, plan=plan, tenant=tenant)
            await repo.touch_flag(session, key, actor)
            await repo.insert_audit(
                session,
                key=key,
                action="set",
                scope=_scope(plan, tenant),
                tenant=tenant,
                old=old,
                new=checked,
                actor=actor,
                reason=reason,
            )
            flag = await self._load(session, key)
        return await self._published(flag)

    async def unset_override(
        self, key: str, reason: str, actor: str, *, plan: str | None = None, tenant: uuid.UUID | None = None
    ) -> tuple[Flag, bool]:
        async with admin_session(self._sessions) as session:
            await self._locked(session, key)
            old = await repo.get_override(session, key, plan=plan, tenant=tenant)
            if old is None:
                raise NotFound(f"Flag '{key}' has no override for {_scope(plan, tenant)}.", code="override_not_found")
            await repo.delete_override(session, key, plan=plan, tenant=tenant)
            await repo.touch_flag(session, key, actor)
            await repo.insert_audit(
                session,
                key=key,
                action="unset",
                scope=_scope(plan, tenant),
                tenant=tenant,
                old=old,
                new=None,
                actor=actor,
                reason=reason,
            )
            flag = await self._load(session, key)
        return await self._published(flag)

    async def audit(
        self, *, flag: str | None, tenant: uuid.UUID | None, limit: int, before_id: int | None
    ) -> list[repo.AuditRow]:
        async with admin_session(self._sessions) as session:
            return await repo.list_audit(session, flag=flag, tenant=tenant, limit=limit, before_id=before_id)

    async def seed(self) -> list[str]:
        """Create the seed flags that are missing; returns the keys created."""
        created = []
        for spec in SEED_FLAGS:
            body = FlagCreate.model_validate({**spec, "reason": "seed flag created at control-plane start"})
            async with admin_session(self._sessions) as session:
                if await repo.lock_flag(session, body.key) is not None:
                    continue
                try:
                    await self._create(session, body, "control-plane-seed")
                except Conflict:
                    continue  # another replica seeded it first
            created.append(body.key)
        return created
