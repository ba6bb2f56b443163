"""The plan catalogue: cached reads for every process, edits by platform admins (platform_admin sessions)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.errors import NotFound, PlatformError
from billing.plans import repository
from billing.plans.catalogue import Catalogue

__all__ = ["PlanExists", "CatalogueCache", "create_plan", "update_plan"]


class PlanExists(PlatformError):
    status = 409
    type = "invalid_request_error"
    default_code = "plan_exists"


class CatalogueCache:
    """The catalogue, reloaded when older than `ttl_s` or after `invalidate()` (an admin edit here)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_s: float = 5.0) -> None:
        self._sessions = sessions
        self._ttl_s = ttl_s
        self._loaded_at = -float("inf")
        self._catalogue: Catalogue | None = None

    def invalidate(self) -> None:
        self._catalogue = None

    async def get(self) -> Catalogue:
        now = time.monotonic()
        if self._catalogue is None or now - self._loaded_at > self._ttl_s:
            async with self._sessions() as session, session.begin():
                self._catalogue = await repository.load_catalogue(session)
            self._loaded_at = now
        return self._catalogue


async def create_plan(
    session: AsyncSession, code: str, fields: Mapping[str, object], prices: Mapping[str, tuple[Decimal, Decimal]]
) -> None:
    try:
        await repository.insert_plan(session, code, fields)
    except IntegrityError as exc:
        raise PlanExists(f"A plan '{code}' already exists.", param="code") from exc
    await repository.upsert_prices(session, code, prices)


async def update_plan(
    session: AsyncSession, code: str, fields: Mapping[str, object], prices: Mapping[str, tuple[Decimal, Decimal]]
) -> None:
    if not await repository.lock_plan(session, code):
        raise NotFound(f"No plan '{code}'.", code="plan_not_found")
    await repository.update_plan_fields(session, code, fields)
    await repository.upsert_prices(session, code, prices)
