"""Connection tickets: short-lived, single-use WebSocket credentials, so browsers never put an API key in a URL.

A ticket is 256 random bits. Postgres (`realtime_tickets`, migration 0012) keeps its SHA-256, never the
ticket. The socket acts as the key that asked for the ticket (its scopes, limits and metering, since
replies are requested from the gateway with that key), so the key is stored too, sealed with AES-GCM
under a key derived from the ticket (HKDF): a row can be opened only by whoever holds the ticket.

Redemption is one call of the SECURITY DEFINER function `realtime_consume_ticket`, which marks the row
used under a row lock: a ticket opens one socket, on whichever instance, whatever happens to Redis.
Expiry is judged at `aiaas.clock.now()` of the redeeming process.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.auth import Principal
from aiaas.db import tenant_session

__all__ = [
    "TICKET_PREFIX",
    "REFUSAL_REASONS",
    "IssuedTicket",
    "RedeemedTicket",
    "TicketRefused",
    "TicketStore",
    "hash_ticket",
]

TICKET_PREFIX = "rtk-aiaas-"
# 43 url-safe characters = 32 random bytes.
_TICKET_LEN = len(TICKET_PREFIX) + 43
_NONCE_BYTES = 12
_SEAL_INFO = b"aiaas realtime ticket: sealed API key"
# Why a ticket was refused (the metric's only label, a closed set).
REFUSAL_REASONS = ("unknown", "used", "expired", "revoked")

_DELETE_EXPIRED = text("delete from realtime_tickets where expires_at <= :now")
_INSERT = text(
    "insert into realtime_tickets (ticket_hash, tenant_id, api_key_id, sealed_key, created_at, expires_at) "
    "values (:ticket_hash, :tenant_id, :api_key_id, :sealed_key, :created_at, :expires_at)"
)
_CONSUME = text("select outcome, tenant_id, key_id, sealed_key from realtime_consume_ticket(:ticket_hash, :now)")
_PURGE = text("select realtime_purge_tickets(:now, :limit)")


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


def hash_ticket(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).hexdigest()


def _aead(ticket: str) -> AESGCM:
    # Derived with its own label: the stored hash never helps to open the sealed key.
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_INFO).derive(ticket.encode())
    return AESGCM(key)


def _bound_to(tenant_id: uuid.UUID, key_id: uuid.UUID) -> bytes:
    # Associated data: a sealed key moved to another row (other tenant or key) no longer opens.
    return tenant_id.bytes + key_id.bytes


def _seal(ticket: str, api_key: str, tenant_id: uuid.UUID, key_id: uuid.UUID) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + _aead(ticket).encrypt(nonce, api_key.encode(), _bound_to(tenant_id, key_id))


def _unseal(ticket: str, sealed: bytes, tenant_id: uuid.UUID, key_id: uuid.UUID) -> str:
    nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    return _aead(ticket).decrypt(nonce, body, _bound_to(tenant_id, key_id)).decode()


def _well_formed(ticket: str) -> bool:
    return len(ticket) == _TICKET_LEN and ticket.startswith(TICKET_PREFIX) and ticket.isascii()


class TicketStore:
    """Issues tickets inside the tenant's RLS context; redeems and purges them through the definer functions."""

    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], *, ttl_s: float) -> None:
        self._engine = engine
        self._sessions = sessions
        self.ttl_s = ttl_s

    async def issue(self, principal: Principal, api_key: str) -> IssuedTicket:
        """A new ticket for the key `api_key` (resolved to `principal`); the tenant's expired tickets go."""
        now = clock.now()
        expires_at = now + timedelta(seconds=self.ttl_s)
        ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
        row = {
            "ticket_hash": hash_ticket(ticket),
            "tenant_id": principal.tenant_id,
            "api_key_id": principal.key_id,
            "sealed_key": _seal(ticket, api_key, principal.tenant_id, principal.key_id),
            "created_at": now,
            "expires_at": expires_at,
        }
        async with tenant_session(self._sessions, principal.tenant_id) as session:
            await session.execute(_DELETE_EXPIRED, {"now": now})
            await session.execute(_INSERT, row)
        return IssuedTicket(ticket=ticket, expires_at=expires_at)

    async def redeem(self, ticket: str) -> RedeemedTicket:
        """Use the ticket up: its tenant and key, or `TicketRefused`."""
        if not _well_formed(ticket):
            raise TicketRefused("unknown")
        async with self._engine.begin() as conn:
            row = (await conn.execute(_CONSUME, {"ticket_hash": hash_ticket(ticket), "now": clock.now()})).one()
        if row.outcome != "ok":
            raise TicketRefused(row.outcome if row.outcome in REFUSAL_REASONS else "unknown")
        try:
            api_key = _unseal(ticket, bytes(row.sealed_key), row.tenant_id, row.key_id)
        except InvalidTag:
            # Only a row altered in the database gets here.
            raise TicketRefused("unknown") from None
        return RedeemedTicket(tenant_id=row.tenant_id, key_id=row.key_id, api_key=api_key)

    async def purge(self, limit: int = 10_000) -> int:
        """Delete up to `limit` expired tickets of every tenant; how many went."""
        async with self._engine.begin() as conn:
            return int((await conn.execute(_PURGE, {"now": clock.now(), "limit": limit})).scalar_one())
