"""Request body of Anthropic's `POST /v1/messages` (unknown fields are accepted and ignored)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["AnthropicMessage", "AnthropicTool", "AnthropicToolChoice", "MessagesRequest"]


class _Lenient(BaseModel):
    """Accept fields we don't model, as the real API accepts many."""

    model_config = ConfigDict(extra="allow")


class AnthropicMessage(_Lenient):
    """A user or assistant turn; content is text or a list of typed blocks."""

    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]

    @model_validator(mode="after")
    def _typed_blocks(self) -> AnthropicMessage:
        """Every content block names its type."""
        if isinstance(self.content, list) and any(not isinstance(b.get("type"), str) for b in self.content):
            raise ValueError("every content block needs a string 'type'")
        return self


class AnthropicTool(_Lenient):
    """A client tool: name plus JSON-schema of its input."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,128}$")
    description: str | None = None
    input_schema: dict[str, Any] = Field(default_factory=dict)


class AnthropicToolChoice(_Lenient):
    """`{"type": "auto"|"any"|"tool"|"none", "name": ...}`."""

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None


class MessagesRequest(_Lenient):
    """`POST /v1/messages` body."""

    model: str = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    stop_sequences: list[str] | None = None
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)
    tools: list[AnthropicTool] | None = None
    tool_choice: AnthropicToolChoice | None = None

    @model_validator(mode="after")
    def _consistent(self) -> MessagesRequest:
        """Cross-field rules the real API enforces."""
        choice = self.tool_choice
        if choice is not None and choice.type == "tool":
            if not choice.name:
                raise ValueError("tool_choice.name: Field required when type is 'tool'")
            if all(tool.name != choice.name for tool in self.tools or []):
                raise ValueError(f"tool_choice.name: no tool named {choice.name!r} in 'tools'")
        return self

    def system_text(self) -> str | None:
        """The system prompt as plain text, or None when absent."""
        if self.system is None:
            return None
        if isinstance(self.system, str):
            return self.system
        return "\n".join(str(block.get("text", "")) for block in self.system)
