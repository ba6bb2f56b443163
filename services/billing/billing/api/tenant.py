"""Tenant endpoints (`Authorization: Bearer <tenant API key>`); every query runs in the tenant's RLS session."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter

from aiaas import clock
from aiaas.db import tenant_session
from billing.alerts import set_endpoint
from billing.api.responses import BalanceOut, InvoiceDraftOut, InvoiceList, InvoiceOut, SubscriptionOut, UsageOut
from billing.api.schemas import (
    AlertEndpointRequest,
    PlanChoice,
    draft_json,
    invoice_json,
    subscription_json,
    usage_json,
)
from billing.credits import balance
from billing.deps import BillingManageDep, BillingReadDep, StateDep
from billing.invoices import get_invoice, list_invoices
from billing.invoicing import compute_invoice
from billing.quota_sync import publish_tenant_quotas, read_tenant_quotas
from billing.subscriptions import change_plan, read_subscription
from billing.usage import parse_period, period_usage

__all__ = ["router"]

router = APIRouter(prefix="/v1/billing", tags=["billing"])


def _now() -> datetime:
    return clock.now()


@router.get("/usage", response_model=UsageOut)
async def get_usage(state: StateDep, principal: BillingReadDep, period: str | None = None) -> dict[str, Any]:
    """Usage of the open period (`period=current`) or of the period starting on `period` (YYYY-MM-DD)."""
    day = parse_period(period)
    catalogue = await state.catalogue.get()
    async with tenant_session(state.sessions, principal.tenant_id) as session:
        usage = await period_usage(session, catalogue, principal.tenant_id, day, _now())
    return usage_json(usage)


@router.get("/invoice/preview", response_model=InvoiceDraftOut)
async def preview_invoice(state: StateDep, principal: BillingReadDep) -> dict[str, Any]:
    """The open period's invoice as it would be if the period closed now (not persisted)."""
    catalogue = await state.catalogue.get()
    async with tenant_session(state.sessions, principal.tenant_id) as session:
        sub = await read_subscription(session, principal.tenant_id, _now())
        draft = await compute_invoice(session, catalogue, sub, state.settings.tax_rate)
    return draft_json(draft)


@router.get("/invoices", response_model=InvoiceList)
async def get_invoices(state: StateDep, principal: BillingReadDep) -> dict[str, Any]:
    """Finalized invoices, newest first."""
    async with tenant_session(state.sessions, principal.tenant_id) as session:
        invoices = await list_invoices(session, principal.tenant_id)
    return {"data": [invoice_json(invoice) for invoice in invoices]}


@router.get("/invoices/{invoice_id}", response_model=InvoiceOut)
async def get_one_invoice(state: StateDep, principal: BillingReadDep, invoice_id: uuid.UUID) -> dict[str, Any]:
    """One finalized invoice with its lines."""
    async with tenant_session(state.sessions, principal.tenant_id) as session:
        invoice = await get_invoice(session, principal.tenant_id, invoice_id)
    return invoice_json(invoice)


@router.get("/subscription", response_model=SubscriptionOut)
async def get_subscription(state: StateDep, principal: BillingReadDep) -> dict[str, Any]:
    """The tenant's plan and open period (a tenant without one is on 'free')."""
    catalogue = await state.catalogue.get()
    async with tenant_session(state.sessions, principal.tenant_id) as session:
        sub = await read_subscription(session, principal.tenant_id, _now())
    return subscription_json(sub, catalogue.plan(sub.plan_code))


@router.post("/subscription", response_model=SubscriptionOut)
async def post_subscription(state: StateDep, principal: BillingManageDep, body: PlanChoice) -> dict[str, Any]:
    """Change plan; it applies to the open period at once and the gateway's limit follows within a second."""
    catalogue = await state.catalogue.get()
    async with tenant_session(state.sessions, principal.tenant_id) as session:
        _, after = await change_plan(session, catalogue, principal.tenant_id, body.plan, _now())
        quotas = await read_tenant_quotas(session, catalogue, principal.tenant_id)
    await publish_tenant_quotas(state.redis, state.plans, quotas)
    return subscription_json(after, catalogue.plan(after.plan_code))


@router.get("/balance", response_model=BalanceOut)
async def get_balance(state: StateDep, principal: BillingReadDep) -> dict[str, Any]:
    """Prepaid credit balance in minor units."""
    async with tenant_session(state.sessions, principal.tenant_id) as session:
        sub = await read_subscription(session, principal.tenant_id, _now())
        amount = await balance(session, principal.tenant_id)
    catalogue = await state.catalogue.get()
    return {"balance_minor": amount, "currency": catalogue.plan(sub.plan_code).currency}


@router.put("/alerts")
async def put_alerts(state: StateDep, principal: BillingManageDep, body: AlertEndpointRequest) -> dict[str, Any]:
    """Send quota alerts to `url`; the signing secret is returned this once (a new one on every PUT)."""
    async with tenant_session(state.sessions, principal.tenant_id) as session:
        secret = await set_endpoint(
            session, principal.tenant_id, body.url, allow_internal=state.settings.alert_allow_internal_urls
        )
    return {"url": body.url, "secret": secret, "signature_header": "X-AIaaS-Signature"}
