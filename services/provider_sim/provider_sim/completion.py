"""Provider-neutral completion: a conversation in, a text reply or a tool call out."""

from __future__ import annotations

from dataclasses import dataclass, field

from provider_sim.textgen import Reply, build_reply, prompt_tokens, reply_length
from provider_sim.tools import ToolCall, ToolChoice, ToolSpec, plan_tool_call

__all__ = ["Completion", "Conversation", "complete"]


@dataclass(frozen=True, slots=True)
class Conversation:
    """What both APIs boil down to once parsed.

    `last_user_text` is None when the conversation ends with a tool result.
    """

    seed: int
    message_texts: list[str]
    last_user_text: str | None
    max_tokens: int | None
    stop: list[str] = field(default_factory=list)
    tools: list[ToolSpec] = field(default_factory=list)
    tools_json: bytes | None = None
    tool_choice: ToolChoice = field(default_factory=ToolChoice)


@dataclass(frozen=True, slots=True)
class Completion:
    """The simulated model's answer and its usage; exactly one of `reply`/`tool_call` is set."""

    prompt_tokens: int
    reply: Reply | None
    tool_call: ToolCall | None

    @property
    def completion_tokens(self) -> int:
        """Tokens generated."""
        if self.tool_call is not None:
            return self.tool_call.completion_tokens
        return self.reply.completion_tokens if self.reply is not None else 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


def complete(conversation: Conversation, reply_range: tuple[int, int]) -> Completion:
    """Answer `conversation` deterministically; reply length drawn from `reply_range`."""
    usage_in = prompt_tokens(conversation.message_texts, conversation.tools_json)
    call = plan_tool_call(conversation.tools, conversation.tool_choice, conversation.last_user_text, conversation.seed)
    if call is not None:
        return Completion(usage_in, None, call)
    length = reply_length(conversation.seed, *reply_range)
    reply = build_reply(conversation.seed, length, conversation.max_tokens, conversation.stop)
    return Completion(usage_in, reply, None)
