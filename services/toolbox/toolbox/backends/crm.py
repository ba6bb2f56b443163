"""CRM: find a lead by email (the dedupe step), create a lead, schedule (and cancel) a callback."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, Field
from starlette.responses import Response

from toolbox.backends.orders import EMAIL_QUERY, IDENT
from toolbox.errors import ToolboxError, conflict, not_found
from toolbox.objects import Callback, Lead, new_id
from toolbox.pipeline import CallDep, Outcome, run
from toolbox.schemas import Email, Model, Phone, Text, now
from toolbox.store import TenantData

__all__ = ["OPERATIONS", "router"]

OPERATIONS = (
    "crm.find_leads",
    "crm.get_lead",
    "crm.create_lead",
    "crm.schedule_callback",
    "crm.cancel_callback",
)

router = APIRouter(prefix="/v1/crm", tags=["crm"])


class LeadList(BaseModel):
    data: list[Lead]


class LeadRequest(Model):
    email: Email
    name: Text
    company: Text | None = None
    phone: Phone | None = None
    source: Text | None = None
    score: Annotated[int, Field(ge=0, le=100)] | None = None
    notes: Text | None = None


class CallbackRequest(Model):
    """Call the lead back at `at` (an ISO 8601 time with its offset)."""

    at: AwareDatetime
    channel: Literal["phone", "video"] = "phone"
    note: Text | None = None


@router.get("/leads", response_model=LeadList)
async def find_leads(call: CallDep, email: Annotated[str, Query(pattern=EMAIL_QUERY, max_length=254)]) -> Response:
    """The lead with this email (case-insensitive): `{"data": []}` or `{"data": [lead]}`."""
    wanted = email.lower()

    def execute(data: TenantData) -> Outcome:
        lead = data.lead_by_email(wanted)
        return Outcome(200, LeadList(data=[] if lead is None else [lead]), False)

    return await run(call, "crm.find_leads", {"email": wanted}, execute, side_effect=False)


@router.get("/leads/{lead_id}", response_model=Lead)
async def get_lead(call: CallDep, lead_id: Annotated[str, Path(pattern=IDENT)]) -> Response:
    def execute(data: TenantData) -> Outcome:
        lead = data.leads.get(lead_id)
        if lead is None:
            raise not_found("lead", lead_id)
        return Outcome(200, lead, False)

    return await run(call, "crm.get_lead", {"lead_id": lead_id}, execute, side_effect=False)


@router.post("/leads", status_code=201, response_model=Lead)
async def create_lead(call: CallDep, body: LeadRequest) -> Response:
    """Create a lead; an email already in the CRM is 409 `lead_exists` (its id in the message)."""

    def execute(data: TenantData) -> Outcome:
        existing = data.lead_by_email(body.email)
        if existing is not None:
            raise conflict("lead_exists", f"Lead {existing.id} already has this email.", "email")
        lead = Lead(id=new_id("lead"), **body.model_dump())
        data.leads[lead.id] = lead
        return Outcome(201, lead, True)

    return await run(call, "crm.create_lead", body.model_dump(mode="json"), execute, side_effect=True)


@router.post("/leads/{lead_id}/callbacks", status_code=201, response_model=Callback)
async def schedule_callback(
    call: CallDep, lead_id: Annotated[str, Path(pattern=IDENT)], body: CallbackRequest
) -> Response:
    """Schedule a callback for a lead: 404 unknown lead, 422 `callback_in_past`."""

    def execute(data: TenantData) -> Outcome:
        lead = data.leads.get(lead_id)
        if lead is None:
            raise not_found("lead", lead_id)
        if body.at < now():
            raise ToolboxError(422, "callback_in_past", "A callback must be scheduled in the future.", param="at")
        callback = Callback(
            id=new_id("cb"),
            lead_id=lead.id,
            at=body.at,
            channel=body.channel,
            note=body.note,
            status="scheduled",
            created=now(),
        )
        data.callbacks[callback.id] = callback
        return Outcome(201, callback, True)

    args = {"lead_id": lead_id, **body.model_dump(mode="json")}
    return await run(call, "crm.schedule_callback", args, execute, side_effect=True)


@router.post("/callbacks/{callback_id}/cancel", response_model=Callback)
async def cancel_callback(call: CallDep, callback_id: Annotated[str, Path(pattern=IDENT)]) -> Response:
    """Cancel a callback; cancelling a cancelled one is a no-op (200, no effect)."""

    def execute(data: TenantData) -> Outcome:
        callback = data.callbacks.get(callback_id)
        if callback is None:
            raise not_found("callback", callback_id)
        if callback.status == "cancelled":
            return Outcome(200, callback, False)
        callback.status = "cancelled"
        return Outcome(200, callback, True)

    return await run(call, "crm.cancel_callback", {"callback_id": callback_id}, execute, side_effect=True)
