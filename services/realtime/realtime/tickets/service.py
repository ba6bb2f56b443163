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

import asyncio
import hashlib
import logging
import secrets
import uuid
from datetime import timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas import clock
from aiaas.auth import Principal
from realtime.tickets.repository import TicketRepository, TicketRow
from realtime.tickets.schemas import REFUSAL_REASONS, IssuedTicket, RedeemedTicket, TicketRefused

__all__ = ["TICKET_PREFIX", "TicketService", "hash_ticket", "purge_expired"]

log = logging.getLogger(__name__)

TICKET_PREFIX = "rtk-aiaas-"
# 43 url-safe characters = 32 random bytes.
_TICKET_LEN = len(TICKET_PREFIX) + 43
_NONCE_BYTES = 12
_SEAL_INFO = b"aiaas realtime ticket: sealed API key"


def hash_ticket(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).hexdigest()


def _aead(ticket: str) -> AESGCM:
    # Derived with its own label: the stored hash never helps to open the sealed key.
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_INFO).derive(ticket.encode())
    return AESGCM(key)


def _bound_to(tenant_id: uuid.UUID, key_id: uuid.UUID) -> bytes:
    # Associated data: a sealed key moved to another row (other tenant or key) no longer opens.
    return tenant_id.bytes + key_id.bytes


def seal(ticket: str, api_key: str, tenant_id: uuid.UUID, key_id: uuid.UUID) -> bytes:
    """`api_key` encrypted under the ticket, bound to its tenant and key."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + _aead(ticket).encrypt(nonce, api_key.encode(), _bound_to(tenant_id, key_id))


def unseal(ticket: str, sealed: bytes, tenant_id: uuid.UUID, key_id: uuid.UUID) -> str:
    """The API key `seal` sealed; raises `InvalidTag` for another ticket, tenant or key."""
    nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    return _aead(ticket).decrypt(nonce, body, _bound_to(tenant_id, key_id)).decode()


def well_formed(ticket: str) -> bool:
    return len(ticket) == _TICKET_LEN and ticket.startswith(TICKET_PREFIX) and ticket.isascii()


class TicketService:
    """Issues tickets inside the caller's tenant transaction; redeems and purges them across tenants."""

    def __init__(self, repository: TicketRepository, *, ttl_s: float) -> None:
        self._repository = repository
        self.ttl_s = ttl_s

    async def issue(self, session: AsyncSession, principal: Principal, api_key: str) -> IssuedTicket:
        """A new ticket for the key `api_key` (resolved to `principal`); the tenant's expired tickets go."""
        now = clock.now()
        expires_at = now + timedelta(seconds=self.ttl_s)
        ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
        row = TicketRow(
            ticket_hash=hash_ticket(ticket),
            tenant_id=principal.tenant_id,
            api_key_id=principal.key_id,
            sealed_key=seal(ticket, api_key, principal.tenant_id, principal.key_id),
            created_at=now,
            expires_at=expires_at,
        )
        await self._repository.insert(session, row)
        return IssuedTicket(ticket=ticket, expires_at=expires_at)

    async def redeem(self, ticket: str) -> RedeemedTicket:
        """Use the ticket up: its tenant and key, or `TicketRefused`."""
        if not well_formed(ticket):
            raise TicketRefused("unknown")
        row = await self._repository.consume(hash_ticket(ticket), clock.now())
        if row.outcome != "ok":
            raise TicketRefused(row.outcome if row.outcome in REFUSAL_REASONS else "unknown")
        assert row.tenant_id is not None and row.key_id is not None and row.sealed_key is not None
        try:
            api_key = unseal(ticket, row.sealed_key, row.tenant_id, row.key_id)
        except InvalidTag:
            # Only a row altered in the database gets here.
            raise TicketRefused("unknown") from None
        return RedeemedTicket(tenant_id=row.tenant_id, key_id=row.key_id, api_key=api_key)

    async def purge(self, limit: int = 10_000) -> int:
        """Delete up to `limit` expired tickets of every tenant; how many went."""
        purged: int = await self._repository.purge(clock.now(), limit)
        return purged


async def purge_expired(tickets: TicketService, every_s: float) -> None:
    """Delete expired connection tickets of every tenant (each instance does; the work is shared, not repeated)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await tickets.purge()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("expired tickets not purged", exc_info=exc)
