"""The `Idempotency-Key` header of billing's money-moving requests."""

from __future__ import annotations

import re
import uuid

from fastapi import Request

from aiaas.errors import BadRequest

__all__ = ["idempotency_key"]

_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def idempotency_key(request: Request) -> str:
    """The request's key (1-200 printable ASCII characters), or a fresh one when it sent none."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return f"auto-{uuid.uuid4()}"
    if not _KEY.match(key):
        raise BadRequest(
            "Idempotency-Key must be 1-200 printable ASCII characters.",
            code="invalid_idempotency_key",
            param="Idempotency-Key",
        )
    return key
