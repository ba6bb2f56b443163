"""Stripe's idempotent requests: the first result for a key is replayed; other parameters are an error.

A key belongs to one secret key. The stored result is matched against the method,
path and decoded parameters of the new request; a mismatch answers 400
`idempotency_error`. Keys expire after `ttl_s` (24 hours on Stripe).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from stripe_sim.errors import StripeError

__all__ = ["IdempotencyCache", "SavedResponse", "fingerprint"]

MAX_KEY_LENGTH = 255


def fingerprint(method: str, path: str, params: dict[str, Any]) -> bytes:
    """What must be equal for a replay: method, path and the parameters, order-insensitive."""
    return orjson.dumps([method, path, params], option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True, slots=True)
class SavedResponse:
    """The first answer given for an idempotency key."""

    fingerprint: bytes
    status: int
    body: bytes
    request_id: str
    saved_at: float


class IdempotencyCache:
    """Saved responses by (secret key, idempotency key)."""

    def __init__(self, ttl_s: float = 24 * 3600) -> None:
        self.ttl_s = ttl_s
        self._saved: dict[tuple[str, str], SavedResponse] = {}

    @staticmethod
    def check_key(key: str) -> None:
        if len(key) > MAX_KEY_LENGTH:
            raise StripeError(
                400,
                f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters.",
                type="idempotency_error",
            )

    def lookup(self, api_key: str, key: str, request_fingerprint: bytes) -> SavedResponse | None:
        """The saved response to replay, None for a new key; raises idempotency_error on other parameters."""
        saved = self._saved.get((api_key, key))
        if saved is None:
            return None
        if time.monotonic() - saved.saved_at > self.ttl_s:
            del self._saved[(api_key, key)]
            return None
        if saved.fingerprint != request_fingerprint:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they were first used with. "
                f"Try using a key other than '{key}' if you meant to execute a different request.",
                type="idempotency_error",
            )
        return saved

    def save(self, api_key: str, key: str, response: SavedResponse) -> None:
        self._saved[(api_key, key)] = response

    def clear(self) -> None:
        self._saved.clear()
