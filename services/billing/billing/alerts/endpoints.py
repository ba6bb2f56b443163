"""The tenant's quota alert endpoint (`PUT /v1/billing/alerts`)."""

from __future__ import annotations

from fastapi import APIRouter

from aiaas.deps import TenantSessionDep
from billing.alerts.rules import SIGNATURE_HEADER
from billing.alerts.schemas import AlertEndpointRequest
from billing.alerts.service import set_endpoint
from billing.state import BillingManageDep, StateDep

__all__ = ["router"]

router = APIRouter(prefix="/v1/billing", tags=["billing"])


@router.put("/alerts")
async def put_alerts(
    state: StateDep, principal: BillingManageDep, session: TenantSessionDep, body: AlertEndpointRequest
) -> dict[str, object]:
    """Send quota alerts to `url`; the signing secret is returned this once (a new one on every PUT)."""
    allow_internal = state.settings.alert_allow_internal_urls
    secret = await set_endpoint(session, principal.tenant_id, body.url, allow_internal=allow_internal)
    return {"url": body.url, "secret": secret, "signature_header": SIGNATURE_HEADER}
