"""The versioned JSON protocol (`"v": 1`): parsing client frames and building server events.

`parse_client_frame` is pure: any text or bytes in, a typed message or a `ProtocolError`
(code, message) out, never another exception. Unknown fields are ignored (forward
compatible); unknown types, other versions and invalid values are errors.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

__all__ = [
    "PROTOCOL_VERSION",
    "CLIENT_TYPES",
    "ProtocolError",
    "MessageCreate",
    "Resume",
    "Ping",
    "ClientMessage",
    "parse_client_frame",
    "event",
    "error_event",
    "ConversationNotFound",
    "LoggedEvent",
]

PROTOCOL_VERSION = 1
CLIENT_TYPES = ("message.create", "resume", "ping")
MAX_CONTENT_CHARS = 32_000


class ProtocolError(Exception):
    """A frame the server cannot act on; answered with an `error` event carrying `code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _no_nul(value: str) -> str:
    # Postgres jsonb cannot store U+0000.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    v: Literal[1] = 1


class MessageCreate(_Message):
    """A user message; without `conversation_id` it starts a new conversation."""

    type: Literal["message.create"]
    conversation_id: uuid.UUID | None = None
    content: str = Field(min_length=1, max_length=MAX_CONTENT_CHARS)
    model: str = Field(min_length=1, max_length=200)
    client_msg_id: str = Field(min_length=1, max_length=128)

    _checked = field_validator("content", "model", "client_msg_id")(_no_nul)


class Resume(_Message):
    """Replay a conversation's events after `last_seq`, then follow it live."""

    type: Literal["resume"]
    conversation_id: uuid.UUID
    last_seq: int = Field(ge=0, le=2**62)


class Ping(_Message):
    type: Literal["ping"]


ClientMessage = Annotated[MessageCreate | Resume | Ping, Field(discriminator="type")]
_ADAPTER: TypeAdapter[MessageCreate | Resume | Ping] = TypeAdapter(ClientMessage)


def parse_client_frame(frame: str | bytes | None, *, max_bytes: int) -> MessageCreate | Resume | Ping:
    """One client frame to a typed message; raises `ProtocolError` for anything unusable."""
    if not isinstance(frame, str):
        raise ProtocolError("binary_not_supported", "Send JSON in text frames.")
    if len(frame) > max_bytes or len(frame.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ProtocolError("frame_too_large", f"Frames are limited to {max_bytes} bytes.")
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError:
        raise ProtocolError("invalid_json", "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_message", "A frame must be a JSON object.")
    version = data.get("v", PROTOCOL_VERSION)
    if isinstance(version, bool) or version != PROTOCOL_VERSION:
        raise ProtocolError("unsupported_version", f"Only protocol version {PROTOCOL_VERSION} is supported.")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("invalid_message", "A frame needs a string `type`.")
    if kind not in CLIENT_TYPES:
        raise ProtocolError("unknown_type", f"Unknown type; expected one of {', '.join(CLIENT_TYPES)}.")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise ProtocolError("invalid_message", _describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    # Location and pydantic's message only: never echo the input back.
    first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    where = ".".join(str(part) for part in first["loc"] if part not in CLIENT_TYPES) or "frame"
    return f"Invalid {_safe(where)}: {first['msg']}"


def _safe(text: str) -> str:
    """`text` cut and made encodable (lone surrogates escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:80]


def event(kind: str, **fields: Any) -> dict[str, Any]:
    """A server event: `{"v": 1, "type": kind, ...fields}`."""
    return {"v": PROTOCOL_VERSION, "type": kind, **fields}


def error_event(code: str, message: str, **fields: Any) -> dict[str, Any]:
    return event("error", code=code, message=message, **fields)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One event of a conversation's log (Redis live log or Postgres): its seq, type and data."""

    seq: int
    type: str
    data: dict[str, Any]


class ConversationNotFound(Exception):
    """A message named a conversation its tenant does not own (or that does not exist): the socket closes, 4403."""

    def __init__(self, conversation_id: uuid.UUID) -> None:
        super().__init__(str(conversation_id))
        self.conversation_id = conversation_id
