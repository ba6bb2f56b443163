"""FastAPI dependencies: the billing state, the calling tenant (per scope), the platform admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aiaas.auth import AdminDep, AdminPrincipalDep, Principal, require_scope
from aiaas.scopes import BILLING_MANAGE, BILLING_READ
from billing.state import BillingAdminState, BillingState

__all__ = ["StateDep", "AdminStateDep", "BillingReadDep", "BillingManageDep", "AdminDep", "AdminPrincipalDep"]


async def get_state(request: Request) -> BillingState:
    return request.app.state.billing  # type: ignore[no-any-return]


StateDep = Annotated[BillingState, Depends(get_state)]


async def get_admin_state(request: Request) -> BillingAdminState:
    """The admin listener's state (billing/admin.py): the tenant API has no platform_admin engine."""
    return request.app.state.billing  # type: ignore[no-any-return]


AdminStateDep = Annotated[BillingAdminState, Depends(get_admin_state)]


# Reads (usage, invoices, balance, subscription) and writes (plan, top-ups, alerts) are separate grants.
BillingReadDep = Annotated[Principal, require_scope(BILLING_READ)]
BillingManageDep = Annotated[Principal, require_scope(BILLING_MANAGE)]
