"""Quota alert rules: where a plan's soft limits lie, which a step of usage crosses, how a delivery is signed."""

from __future__ import annotations

import hashlib
import hmac
import time

from billing.plans.catalogue import Plan

__all__ = ["SIGNATURE_HEADER", "sign", "verify_signature", "threshold_tokens", "Crossing", "crossed_thresholds"]

SIGNATURE_HEADER = "X-AIaaS-Signature"

# (soft-limit percentage, tokens used in the period when it was crossed)
Crossing = tuple[int, int]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: recompute the HMAC, compare in constant time, refuse stale timestamps."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


def threshold_tokens(plan: Plan) -> list[tuple[int, int]]:
    """(tokens used at which the soft limit is reached, percentage) of `plan`, ascending."""
    if plan.included_tokens <= 0:
        return []
    # ceil: 80 % of 5 tokens is reached at 4
    return sorted((-(-plan.included_tokens * pct // 100), pct) for pct in plan.soft_limit_pcts)


def crossed_thresholds(thresholds: list[tuple[int, int]], before: int, after: int) -> list[Crossing]:
    """The soft limits (from `threshold_tokens`) reached when usage goes from `before` to `after` tokens.

    A limit reached at or before `before` is not crossed again: each fires once per period.
    """
    return [(pct, after) for tokens, pct in thresholds if before < tokens <= after]
