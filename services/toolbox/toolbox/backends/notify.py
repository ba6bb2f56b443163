"""Notify: send an email or SMS to a customer (recorded, never delivered)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import Field, model_validator
from starlette.responses import Response

from toolbox.backends.orders import IDENT
from toolbox.errors import not_found
from toolbox.objects import Message, new_id
from toolbox.pipeline import CallDep, Outcome, run
from toolbox.schemas import Metadata, Model, Text, now
from toolbox.store import TenantData

__all__ = ["OPERATIONS", "router"]

OPERATIONS = ("notify.get", "notify.send")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,24}$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")

router = APIRouter(prefix="/v1/notify", tags=["notify"])


class MessageRequest(Model):
    """`to` is an email address (channel email) or an E.164 number (channel sms)."""

    channel: Literal["email", "sms"]
    to: Annotated[Text, Field(max_length=254)]
    subject: Annotated[Text, Field(max_length=200)] | None = None
    body: Annotated[Text, Field(max_length=10_000)]
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _recipient_fits_channel(self) -> MessageRequest:
        pattern = _EMAIL if self.channel == "email" else _PHONE
        if not pattern.match(self.to):
            raise ValueError(f"`to` is not a valid {self.channel} recipient")
        return self


@router.post("/messages", status_code=201, response_model=Message)
async def send_message(call: CallDep, body: MessageRequest) -> Response:
    """Send a message (422 when `to` does not fit the channel)."""

    def execute(data: TenantData) -> Outcome:
        message = Message(id=new_id("msg"), created=now(), **body.model_dump())
        data.messages[message.id] = message
        return Outcome(201, message, True)

    return await run(call, "notify.send", body.model_dump(mode="json"), execute, side_effect=True)


@router.get("/messages/{message_id}", response_model=Message)
async def get_message(call: CallDep, message_id: Annotated[str, Path(pattern=IDENT)]) -> Response:
    def execute(data: TenantData) -> Outcome:
        message = data.messages.get(message_id)
        if message is None:
            raise not_found("message", message_id)
        return Outcome(200, message, False)

    return await run(call, "notify.get", {"message_id": message_id}, execute, side_effect=False)
