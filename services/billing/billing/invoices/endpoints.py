"""Invoices: the tenant's preview and finalized invoices, and the platform admin's period close."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from aiaas import clock
from aiaas.deps import AdminDep, TenantSessionDep
from billing.invoices.schemas import (
    CloseRequest,
    InvoiceDraftOut,
    InvoiceList,
    InvoiceOut,
    draft_json,
    invoice_json,
)
from billing.invoices.service import close_due_periods, compute_invoice, get_invoice, list_invoices
from billing.state import AdminStateDep, BillingReadDep, StateDep
from billing.subscriptions.service import read_subscription

__all__ = ["router", "admin_router"]

router = APIRouter(prefix="/v1/billing", tags=["billing"])
admin_router = APIRouter(prefix="/admin/billing", tags=["billing-admin"], dependencies=[AdminDep])


@router.get("/invoice/preview", response_model=InvoiceDraftOut)
async def preview_invoice(state: StateDep, principal: BillingReadDep, session: TenantSessionDep) -> dict[str, object]:
    """The open period's invoice as it would be if the period closed now (not persisted)."""
    catalogue = await state.catalogue.get()
    sub = await read_subscription(session, principal.tenant_id, clock.now())
    return draft_json(await compute_invoice(session, catalogue, sub, state.settings.tax_rate))


@router.get("/invoices", response_model=InvoiceList)
async def get_invoices(principal: BillingReadDep, session: TenantSessionDep) -> dict[str, object]:
    """Finalized invoices, newest first."""
    invoices = await list_invoices(session, principal.tenant_id)
    return {"data": [invoice_json(invoice) for invoice in invoices]}


@router.get("/invoices/{invoice_id}", response_model=InvoiceOut)
async def get_one_invoice(
    principal: BillingReadDep, session: TenantSessionDep, invoice_id: uuid.UUID
) -> dict[str, object]:
    """One finalized invoice with its lines."""
    return invoice_json(await get_invoice(session, principal.tenant_id, invoice_id))


@admin_router.post("/close-periods")
async def post_close_periods(state: AdminStateDep, body: CloseRequest | None = None) -> dict[str, object]:
    """Close every subscription period that has ended (at `now`); running it again creates nothing."""
    now = body.now if body is not None and body.now is not None else clock.now()
    catalogue = await state.catalogue.get()
    # One transaction per tenant (a failing tenant leaves the others closed): no request-scoped session.
    closed = await close_due_periods(state.admin_sessions, state.sessions, catalogue, now, state.settings.tax_rate)
    return {
        "now": now.isoformat(),
        "invoices": [
            {"tenant_id": str(tenant), "invoice_id": str(invoice)}
            for tenant, invoices in closed.items()
            for invoice in invoices
        ],
    }
