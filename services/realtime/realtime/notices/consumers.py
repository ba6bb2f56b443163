"""Tenant notices over core NATS: `realtime.broadcast.<tenant_id>` -> `notice` to that tenant's sockets.

Core NATS (not JetStream) on purpose: a notice is for whoever is connected now, every
instance must get every notice (no queue group), and nothing is replayed to sockets
that connect later. Payload: `{"message": "..."}` or plain UTF-8 text.
"""

from __future__ import annotations

import logging
import uuid

import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from realtime.connection.registry import ConnectionRegistry
from realtime.conversations.schemas import event

__all__ = ["subscribe_broadcasts", "notice_text"]

log = logging.getLogger(__name__)

_MAX_NOTICE_CHARS = 4096


def notice_text(payload: bytes) -> str | None:
    """The notice carried by a message: `{"message": str}` or UTF-8 text; None when unusable."""
    try:
        decoded = orjson.loads(payload)
    except orjson.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
        text = decoded["message"]
    else:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return text[:_MAX_NOTICE_CHARS] if text else None


async def subscribe_broadcasts(nc: NatsClient, prefix: str, registry: ConnectionRegistry) -> Subscription:
    """Deliver every `<prefix>.<tenant_id>` notice to that tenant's sockets in this process."""

    async def on_message(msg: Msg) -> None:
        try:
            tenant_id = uuid.UUID(msg.subject.rsplit(".", 1)[-1])
        except ValueError:
            log.warning("broadcast to a subject without a tenant id", extra={"subject": msg.subject})
            return
        text = notice_text(msg.data)
        if text is None:
            return
        notice = event("notice", message=text)
        for conn in registry.of_tenant(tenant_id):
            conn.deliver(notice)

    return await nc.subscribe(f"{prefix}.*", cb=on_message)
