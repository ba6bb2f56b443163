"""Editing the plan catalogue (platform_admin sessions only; app_runtime can only read it)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.errors import NotFound, PlatformError

__all__ = ["PlanExists", "create_plan", "update_plan"]

_FIELDS = (
    "name",
    "currency",
    "base_fee_minor",
    "included_tokens",
    "included_requests",
    "overage_policy",
    "hard_limit_tokens",
    "soft_limit_pcts",
    "active",
)


class PlanExists(PlatformError):
    status = 409
    type = "invalid_request_error"
    default_code = "plan_exists"


_INSERT = text(
    "insert into plans (code, name, currency, base_fee_minor, included_tokens, included_requests, overage_policy,"
    " hard_limit_tokens, soft_limit_pcts, active) values (:code, :name, :currency, :base_fee_minor,"
    " :included_tokens, :included_requests, :overage_policy, :hard_limit_tokens, :soft_limit_pcts, :active)"
)
_PRICE = text(
    "insert into plan_prices (plan_code, tier, input_minor_per_1k, output_minor_per_1k)"
    " values (:code, :tier, :pin, :pout)"
    " on conflict (plan_code, tier) do update set input_minor_per_1k = excluded.input_minor_per_1k,"
    " output_minor_per_1k = excluded.output_minor_per_1k"
)
_EXISTS = text("select 1 from plans where code = :code for update")


async def _set_prices(session: AsyncSession, code: str, prices: Mapping[str, tuple[Decimal, Decimal]]) -> None:
    if prices:
        await session.execute(
            _PRICE, [{"code": code, "tier": tier, "pin": pin, "pout": pout} for tier, (pin, pout) in prices.items()]
        )


async def create_plan(
    session: AsyncSession, code: str, fields: Mapping[str, Any], prices: Mapping[str, tuple[Decimal, Decimal]]
) -> None:
    try:
        async with session.begin_nested():
            await session.execute(_INSERT, {"code": code, **{name: fields[name] for name in _FIELDS}})
    except IntegrityError as exc:
        raise PlanExists(f"A plan '{code}' already exists.", param="code") from exc
    await _set_prices(session, code, prices)


async def update_plan(
    session: AsyncSession, code: str, fields: Mapping[str, Any], prices: Mapping[str, tuple[Decimal, Decimal]]
) -> None:
    if (await session.execute(_EXISTS, {"code": code})).first() is None:
        raise NotFound(f"No plan '{code}'.", code="plan_not_found")
    changes = {name: value for name, value in fields.items() if name in _FIELDS}
    if changes:
        assignments = ", ".join(f"{name} = :{name}" for name in changes)
        await session.execute(
            text(f"update plans set {assignments}, updated_at = now() where code = :code"),  # noqa: S608  # nosec B608 - names from _FIELDS
            {"code": code, **changes},
        )
    await _set_prices(session, code, prices)
