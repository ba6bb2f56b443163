"""The canonical request the rule models answer: what of a chat request they may depend on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provider_sim.openai.schemas import ChatCompletionRequest, ChatMessage, NamedToolChoice
from provider_sim.textgen import request_seed
from provider_sim.tools import ToolChoice, ToolSpec

__all__ = ["Message", "RuleRequest", "rule_request"]


@dataclass(frozen=True, slots=True)
class Message:
    """A message's role and text; a tool result also carries the name of the tool that produced it."""

    role: str
    text: str
    tool_name: str | None = None


@dataclass(frozen=True, slots=True)
class RuleRequest:
    """Model, messages, tools, tool_choice, response_format, temperature and seed, reduced.

    `content_seed` hashes what the answer is about (messages, tools, tool_choice, response_format): placeholder
    values and tool-call ids depend on it only. `draw_seed` adds model, temperature and seed: only the degraded
    model's mistake draw reads it, so another seed changes nothing but whether a mistake is made.
    """

    model: str
    messages: list[Message]
    tools: list[ToolSpec]
    tool_choice: ToolChoice
    response_format: dict[str, Any] | None
    max_tokens: int | None
    content_seed: int
    draw_seed: int

    def texts(self, *roles: str) -> list[str]:
        """Texts of the messages with one of `roles`, in order."""
        return [m.text for m in self.messages if m.role in roles]

    @property
    def system(self) -> str:
        """System and developer instructions joined."""
        return "\n".join(self.texts("system", "developer"))

    @property
    def last_user(self) -> str:
        """The last user message's text ("" when there is none)."""
        users = self.texts("user")
        return users[-1] if users else ""

    def results_since_user(self) -> list[Message]:
        """Tool results after the last user message."""
        results: list[Message] = []
        for message in reversed(self.messages):
            if message.role == "user":
                break
            if message.role in ("tool", "function"):
                results.append(message)
        return results[::-1]


def _text(message: ChatMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    return "\n".join(str(part.get("text", "")) for part in message.content or [] if "text" in part)


def rule_request(body: ChatCompletionRequest, raw: dict[str, Any]) -> RuleRequest:
    """Reduce a validated chat request (and its raw JSON) to the canonical request."""
    call_names: dict[str, str] = {}
    messages: list[Message] = []
    for message in body.messages:
        for call in message.tool_calls or []:
            call_names[str(call.get("id", ""))] = str((call.get("function") or {}).get("name", ""))
        tool_name = call_names.get(message.tool_call_id or "", message.name) if message.role == "tool" else None
        messages.append(Message(message.role, _text(message), tool_name))
    choice = ToolChoice()
    if isinstance(body.tool_choice, NamedToolChoice):
        choice = ToolChoice("named", body.tool_choice.function.name)
    elif body.tool_choice is not None:
        choice = ToolChoice(body.tool_choice)
    response_format = raw.get("response_format")
    content_seed = request_seed(raw["messages"], raw.get("tools"), raw.get("tool_choice"), response_format)
    return RuleRequest(
        model=body.model,
        messages=messages,
        tools=[ToolSpec(t.function.name, t.function.parameters) for t in body.tools or []],
        tool_choice=choice,
        response_format=response_format if isinstance(response_format, dict) else None,
        max_tokens=body.completion_cap,
        content_seed=content_seed,
        draw_seed=request_seed(content_seed, body.model, body.temperature, body.seed),
    )
