"""Request bodies of the OpenAI endpoints we simulate (unknown fields are accepted and ignored)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ChatCompletionRequest", "ChatMessage", "EmbeddingRequest"]


class _Lenient(BaseModel):
    """Accept fields we don't model, as the real API accepts many."""

    model_config = ConfigDict(extra="allow")


class ChatMessage(_Lenient):
    """One chat message; content is text or a list of content parts."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _content_present(self) -> ChatMessage:
        """Only assistant messages may omit content (when they carry tool calls)."""
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(f"'content' is required for {self.role} messages")
        return self


class FunctionDefinition(_Lenient):
    """A function the model may call."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)


class ToolDefinition(_Lenient):
    """`{"type": "function", "function": {...}}`."""

    type: Literal["function"] = "function"
    function: FunctionDefinition


class NamedFunction(BaseModel):
    """The `function` part of a named tool choice."""

    name: str


class NamedToolChoice(BaseModel):
    """`{"type": "function", "function": {"name": ...}}`."""

    type: Literal["function"] = "function"
    function: NamedFunction


class StreamOptions(_Lenient):
    """`stream_options`; only `include_usage` changes the simulator's behaviour."""

    include_usage: bool = False


class ChatCompletionRequest(_Lenient):
    """`POST /v1/chat/completions` body."""

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    n: int | None = Field(None, ge=1, le=128)
    seed: int | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ChatCompletionRequest:
        """Cross-field rules the real API enforces."""
        if isinstance(self.stop, list) and len(self.stop) > 4:
            raise ValueError("'stop' accepts at most 4 sequences")
        if self.stream_options is not None and not self.stream:
            raise ValueError("The 'stream_options' parameter is only allowed when 'stream' is enabled.")
        if self.tool_choice is not None and not self.tools:
            raise ValueError("'tool_choice' is only allowed when 'tools' are specified.")
        if isinstance(self.tool_choice, NamedToolChoice):
            wanted = self.tool_choice.function.name
            if all(tool.function.name != wanted for tool in self.tools or []):
                raise ValueError(f"Invalid value for 'tool_choice': no function named {wanted!r} in 'tools'.")
        return self

    @property
    def completion_cap(self) -> int | None:
        """The completion-token cap (`max_completion_tokens` wins over `max_tokens`)."""
        return self.max_completion_tokens or self.max_tokens

    @property
    def stop_sequences(self) -> list[str]:
        """`stop` as a list."""
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else self.stop


class EmbeddingRequest(_Lenient):
    """`POST /v1/embeddings` body: text(s) or token array(s)."""

    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]]
    dimensions: int | None = Field(None, ge=1, le=8192)
    encoding_format: Literal["float", "base64"] = "float"

    @model_validator(mode="after")
    def _non_empty(self) -> EmbeddingRequest:
        """The real API rejects empty inputs."""
        items = [self.input] if isinstance(self.input, str) else self.input
        if not items or any(len(item) == 0 for item in items if isinstance(item, str | list)):
            raise ValueError("'input' must be a non-empty string or a non-empty list of non-empty items")
        if len(items) > 2048:
            raise ValueError("'input' accepts at most 2048 items")
        return self

    def texts(self) -> list[str]:
        """Each input as text (token arrays become their space-joined ids)."""
        if isinstance(self.input, str):
            return [self.input]
        texts: list[str] = []
        for item in self.input:
            if isinstance(item, int):  # one token array: the whole input is a single item
                return [" ".join(str(token) for token in self.input)]
            texts.append(item if isinstance(item, str) else " ".join(str(token) for token in item))
        return texts
