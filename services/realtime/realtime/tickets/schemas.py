"""What tickets are made of: the HTTP answer, an issued or redeemed ticket, and why one was refused."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

__all__ = ["REFUSAL_REASONS", "IssuedTicket", "RealtimeSession", "RedeemedTicket", "TicketRefused"]

# Why a ticket was refused (the metric's only label, a closed set).
REFUSAL_REASONS = ("unknown", "used", "expired", "revoked")


class RealtimeSession(BaseModel):
    ticket: str = Field(
        description="Single-use connection ticket: open the WebSocket with `?ticket=<ticket>` before `expires_at`."
    )
    expires_at: datetime = Field(description="When the ticket stops opening sockets (UTC).")
    expires_in: int = Field(description="Seconds from now until `expires_at`.")
    url: str = Field(description="The WebSocket URL with the ticket in it, ready for `new WebSocket(url)`.")


@dataclass(frozen=True, slots=True)
class IssuedTicket:
    ticket: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RedeemedTicket:
    """Who the socket acts as: the tenant and the key that asked for the ticket."""

    tenant_id: uuid.UUID
    key_id: uuid.UUID
    api_key: str


class TicketRefused(Exception):
    """The ticket is unknown, already used, expired, or its key was revoked (`reason`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
