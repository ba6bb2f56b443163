"""FastAPI dependencies: the billing state, the calling tenant (per scope), the platform admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aiaas.auth import Principal, require_scope, verify_admin_bearer
from aiaas.scopes import BILLING_MANAGE, BILLING_READ
from billing.state import BillingState

__all__ = ["StateDep", "BillingReadDep", "BillingManageDep", "AdminDep"]


async def get_state(request: Request) -> BillingState:
    return request.app.state.billing  # type: ignore[no-any-return]


StateDep = Annotated[BillingState, Depends(get_state)]


# Reads (usage, invoices, balance, subscription) and writes (plan, top-ups, alerts) are separate grants.
BillingReadDep = Annotated[Principal, require_scope(BILLING_READ)]
BillingManageDep = Annotated[Principal, require_scope(BILLING_MANAGE)]


async def require_admin(request: Request, state: StateDep) -> None:
    verify_admin_bearer(request.headers.get("authorization"), state.settings.platform_admin_key)


AdminDep = Depends(require_admin)
