"""The body of the tenant's alert endpoint setting."""

from __future__ import annotations

from pydantic import Field, StrictStr

from billing.plans.schemas import RequestBody

__all__ = ["AlertEndpointRequest"]


class AlertEndpointRequest(RequestBody):
    url: StrictStr = Field(min_length=1, max_length=2048)
