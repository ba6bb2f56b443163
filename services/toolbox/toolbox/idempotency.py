"""Stripe-like idempotency keys, scoped to a tenant.

The first execution of a side-effecting request with `Idempotency-Key: K` claims K (in progress), runs once, and
stores its answer (status and body, success or business error alike). Then, for the same tenant and K:
  - same operation and canonical arguments: the stored answer, byte for byte, with `Idempotent-Replayed: true`;
  - other operation or arguments: 409 `idempotency_key_reused` (fatal), whether K is stored or still running;
  - K still running (a concurrent request): 409 `idempotency_key_in_use`, retryable, `Retry-After: 1`, as Stripe
    answers; nothing waits, so exactly one of N concurrent requests executes.
Not stored (the endpoint never ran): invalid requests, injected `status` faults, the two 409s above. A claim whose
execution dies unexpectedly is dropped, so the key can be retried. Keys expire `ttl_s` after they were stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from toolbox.errors import ToolboxError, invalid

__all__ = ["MAX_KEY_LENGTH", "IdempotencyStore", "Stored", "check_key"]

MAX_KEY_LENGTH = 255
_SWEEP_EVERY = 1024


@dataclass(frozen=True, slots=True)
class Stored:
    """The answer stored for a key (`status` 0 while the first execution runs)."""

    fingerprint: bytes
    status: int
    body: bytes
    request_id: str
    stored_at: float

    @property
    def in_progress(self) -> bool:
        return self.status == 0


def check_key(key: str) -> str:
    """The key, or 400 `invalid_idempotency_key` when empty, too long or not printable ASCII."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise invalid(
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            "Idempotency-Key",
        )
    return key


class IdempotencyStore:
    """Claims and stored answers by (tenant, key)."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._records: dict[tuple[str, str], Stored] = {}
        self._stores = 0

    def lookup(self, tenant: str, key: str, fingerprint: bytes) -> Stored | None:
        """The stored answer to replay, or None for a new key; raises the 409s for a reused or running key."""
        record = self._records.get((tenant, key))
        if record is None:
            return None
        if not record.in_progress and time.monotonic() - record.stored_at > self.ttl_s:
            del self._records[(tenant, key)]
            return None
        if record.fingerprint != fingerprint:
            raise ToolboxError(
                409,
                "idempotency_key_reused",
                f"Idempotency-Key {key!r} was first used with another operation or other arguments; "
                "use a new key for a different request.",
                param="Idempotency-Key",
            )
        if record.in_progress:
            raise ToolboxError(
                409,
                "idempotency_key_in_use",
                f"Another request with Idempotency-Key {key!r} is still in progress; retry later with the same key.",
                param="Idempotency-Key",
                retryable=True,
                headers={"Retry-After": "1"},
            )
        return record

    def claim(self, tenant: str, key: str, fingerprint: bytes, request_id: str) -> None:
        """Mark the key as running (call right after a `lookup` that returned None, with no await between)."""
        self._records[(tenant, key)] = Stored(fingerprint, 0, b"", request_id, time.monotonic())

    def store(self, tenant: str, key: str, fingerprint: bytes, status: int, body: bytes, request_id: str) -> None:
        now = time.monotonic()
        self._records[(tenant, key)] = Stored(fingerprint, status, body, request_id, now)
        self._stores += 1
        if self._stores % _SWEEP_EVERY == 0:  # a long-running dev stack must not keep expired answers forever
            expired = [k for k, r in self._records.items() if not r.in_progress and now - r.stored_at > self.ttl_s]
            for k in expired:
                del self._records[k]

    def release(self, tenant: str, key: str) -> None:
        """Drop a claim whose execution failed unexpectedly (a stored answer stays)."""
        record = self._records.get((tenant, key))
        if record is not None and record.in_progress:
            del self._records[(tenant, key)]

    def clear(self, tenant: str | None = None) -> int:
        """Forget the stored answers and claims (of one tenant, or all); return how many."""
        doomed = [k for k in self._records if tenant is None or k[0] == tenant]
        for k in doomed:
            del self._records[k]
        return len(doomed)

    def count(self, tenant: str | None = None) -> int:
        return sum(1 for k in self._records if tenant is None or k[0] == tenant)
