"""The bandit's observed counts, as a tenant reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["BanditArm", "BanditArms"]


class BanditArm(BaseModel):
    context_key: str
    tier: str
    successes: float
    failures: float
    # Ratios, not amounts: named without money words (tests/test_money_units.py); stored as cost_ratio_sum and
    # cost_observations in router_bandit_arms.
    metered_ratio_sum: float = Field(
        description="Sum over the tier's served requests in this context of metered / estimated cost (a ratio)"
    )
    metered_count: float = Field(description="How many such ratios the sum holds")
    updated_at: datetime


class BanditArms(BaseModel):
    object: Literal["list"] = "list"
    data: list[BanditArm]
