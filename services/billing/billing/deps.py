"""FastAPI dependencies: the billing state, the calling tenant (per scope), the platform admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aiaas.auth import AdminDep, AdminPrincipalDep, Principal, require_scope
from aiaas.scopes import BILLING_MANAGE, BILLING_READ
from billing.state import BillingState

__all__ = ["StateDep", "BillingReadDep", "BillingManageDep", "AdminDep", "AdminPrincipalDep"]


async def get_state(request: Request) -> BillingState:
    return request.app.state.billing  # type: ignore[no-any-return]


StateDep = Annotated[BillingState, Depends(get_state)]


# Reads (usage, invoices, balance, subscription) and writes (plan, top-ups, alerts) are separate grants.
BillingReadDep = Annotated[Principal, require_scope(BILLING_READ)]
BillingManageDep = Annotated[Principal, require_scope(BILLING_MANAGE)]
