"""A tenant's subscription: the stored row, the plan choice body and the response."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from billing.plans.catalogue import Plan
from billing.plans.schemas import PlanCode, PlanOut, RequestBody, ResponseBody, plan_json

__all__ = ["Subscription", "PlanChoice", "SubscriptionOut", "subscription_json"]


@dataclass(frozen=True)
class Subscription:
    tenant_id: uuid.UUID
    plan_code: str
    status: str
    current_period_start: datetime
    current_period_end: datetime
    plan_since: datetime
    prior_base_fee_minor: int
    stripe_customer_id: str | None
    stripe_subscription_id: str | None


class PlanChoice(RequestBody):
    plan: PlanCode


class SubscriptionOut(ResponseBody):
    plan: PlanOut
    status: str
    current_period_start: str
    current_period_end: str
    plan_since: str


def subscription_json(sub: Subscription, plan: Plan) -> dict[str, object]:
    return {
        "plan": plan_json(plan),
        "status": sub.status,
        "current_period_start": sub.current_period_start.isoformat(),
        "current_period_end": sub.current_period_end.isoformat(),
        "plan_since": sub.plan_since.isoformat(),
    }
