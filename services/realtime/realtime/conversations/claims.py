"""Whether a user message may be stored: the rule over earlier claims of its `client_msg_id` and the latest reply.

Postgres is the record of accepted ids: an id is taken while one of its messages has a completed
reply, or a reply neither failed nor silent for `live_s` (still streaming somewhere). A message
whose reply failed, or whose producer died, may be sent again. The latest reply still live refuses
any message (Redis' in-flight marker does that first, but Redis may have restarted empty).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Claim", "LatestReply", "Refused", "refusal"]


class Refused(StrEnum):
    """Why a message was not stored: the protocol's error code."""

    DUPLICATE = "duplicate_message"
    IN_PROGRESS = "response_in_progress"


@dataclass(frozen=True, slots=True)
class Claim:
    """An earlier message with the same `client_msg_id`: its reply completed, failed, seconds since its last event."""

    completed: bool
    failed: bool
    idle_s: float


@dataclass(frozen=True, slots=True)
class LatestReply:
    """The conversation's latest user message: its reply ended (None: no message yet), seconds since its last event."""

    finished: bool | None
    idle_s: float | None


def refusal(claims: Iterable[Claim], latest: LatestReply, *, live_s: float) -> Refused | None:
    """Why the message is refused, or None when it may be stored."""
    if any(claim.completed or (not claim.failed and claim.idle_s < live_s) for claim in claims):
        return Refused.DUPLICATE
    if latest.finished is False and latest.idle_s is not None and latest.idle_s < live_s:
        return Refused.IN_PROGRESS
    return None
