"""SQL of the plan catalogue: platform-wide tables app_runtime only reads and platform_admin edits."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from billing.plans.catalogue import Catalogue, Plan, TierPrice

__all__ = ["load_catalogue", "insert_plan", "lock_plan", "update_plan_fields", "upsert_prices"]

# The columns an admin may set; also what makes the dynamic UPDATE below safe.
PLAN_FIELDS = (
    "name",
    "currency",
    "base_fee_minor",
    "included_tokens",
    "included_requests",
    "overage_policy",
    "hard_limit_tokens",
    "soft_limit_pcts",
    "active",
    "cache_hit_fee_minor",
)

_PLANS = text(
    "select code, name, currency, base_fee_minor, included_tokens, included_requests, overage_policy,"
    " hard_limit_tokens, soft_limit_pcts, active, cache_hit_fee_minor from plans"
)
_PRICES = text("select plan_code, tier, input_minor_per_1k, output_minor_per_1k from plan_prices")
_TIERS = text("select model_alias, tier from model_tiers")
_INSERT = text(
    "insert into plans (code, name, currency, base_fee_minor, included_tokens, included_requests, overage_policy,"
    " hard_limit_tokens, soft_limit_pcts, active, cache_hit_fee_minor) values (:code, :name, :currency,"
    " :base_fee_minor, :included_tokens, :included_requests, :overage_policy, :hard_limit_tokens, :soft_limit_pcts,"
    " :active, :cache_hit_fee_minor)"
)
_PRICE = text(
    "insert into plan_prices (plan_code, tier, input_minor_per_1k, output_minor_per_1k)"
    " values (:code, :tier, :pin, :pout)"
    " on conflict (plan_code, tier) do update set input_minor_per_1k = excluded.input_minor_per_1k,"
    " output_minor_per_1k = excluded.output_minor_per_1k"
)
_EXISTS = text("select 1 from plans where code = :code for update")


async def load_catalogue(session: AsyncSession) -> Catalogue:
    prices: dict[str, dict[str, TierPrice]] = {}
    for row in (await session.execute(_PRICES)).all():
        prices.setdefault(row.plan_code, {})[row.tier] = TierPrice(row.input_minor_per_1k, row.output_minor_per_1k)
    plans = {
        row.code: Plan(
            code=row.code,
            name=row.name,
            currency=row.currency,
            base_fee_minor=row.base_fee_minor,
            included_tokens=row.included_tokens,
            included_requests=row.included_requests,
            overage_policy=row.overage_policy,
            hard_limit_tokens=row.hard_limit_tokens,
            soft_limit_pcts=tuple(sorted(row.soft_limit_pcts or ())),
            active=row.active,
            prices=prices.get(row.code, {}),
            cache_hit_fee_minor=row.cache_hit_fee_minor,
        )
        for row in (await session.execute(_PLANS)).all()
    }
    tiers = {row.model_alias: row.tier for row in (await session.execute(_TIERS)).all()}
    return Catalogue(plans=plans, tiers=tiers)


async def insert_plan(session: AsyncSession, code: str, fields: Mapping[str, object]) -> None:
    """Raises IntegrityError (in a savepoint, the transaction stays usable) when the code is taken."""
    async with session.begin_nested():
        await session.execute(_INSERT, {"code": code, **{name: fields[name] for name in PLAN_FIELDS}})


async def lock_plan(session: AsyncSession, code: str) -> bool:
    """Lock the plan's row until the transaction ends; False when there is no such plan."""
    return (await session.execute(_EXISTS, {"code": code})).first() is not None


async def update_plan_fields(session: AsyncSession, code: str, fields: Mapping[str, object]) -> None:
    """Set those of `fields` that are plan columns (others are ignored)."""
    changes = {name: value for name, value in fields.items() if name in PLAN_FIELDS}
    if not changes:
        return
    assignments = ", ".join(f"{name} = :{name}" for name in changes)
    await session.execute(
        text(f"update plans set {assignments}, updated_at = now() where code = :code"),  # noqa: S608  # nosec B608 - names from PLAN_FIELDS
        {"code": code, **changes},
    )


async def upsert_prices(session: AsyncSession, code: str, prices: Mapping[str, tuple[Decimal, Decimal]]) -> None:
    if prices:
        await session.execute(
            _PRICE, [{"code": code, "tier": tier, "pin": pin, "pout": pout} for tier, (pin, pout) in prices.items()]
        )
