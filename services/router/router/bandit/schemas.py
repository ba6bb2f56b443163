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
    cost_ratio_sum: float = Field(description="Sum of the routed requests' metered / estimated cost")
    cost_observations: float = Field(description="How many cost ratios the sum holds")
    updated_at: datetime


class BanditArms(BaseModel):
    object: Literal["list"] = "list"
    data: list[BanditArm]
