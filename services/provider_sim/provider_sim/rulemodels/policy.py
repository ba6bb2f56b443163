"""`sim-policy-v1` (and `-degraded`): intent by keyword table, tool calls with regex-extracted arguments,
answers rendered by template from tool results or retrieved passages, JSON when `response_format` asks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from provider_sim.rulemodels.data import RuleData, load_rule_data
from provider_sim.rulemodels.request import Message, RuleRequest
from provider_sim.rulemodels.shapes import fill_schema, json_schema_of
from provider_sim.textgen import request_seed
from provider_sim.tools import ToolCall, ToolSpec, tool_call_id

__all__ = ["Mistake", "draws_mistake", "policy_answer"]

_OPTIONS = re.compile(r"one of:\s*(.+?)\.(?:\s|$)", re.IGNORECASE)
_SCORE_PROMPT = re.compile(r"from 0 to 100", re.IGNORECASE)
_SOURCE = re.compile(r"^\[(\d{1,2})\]\s*(.+)$", re.MULTILINE)
_CITATION = re.compile(r"\s*\[\d{1,2}\]")
_WORD = re.compile(r"[a-z0-9]{4,}")
_SENTENCE = re.compile(r"^(.+?[.!?])(?:\s|$)")
_MAX_FACTS = 8

Mistake = bool  # whether the degraded model errs on this request


def draws_mistake(request: RuleRequest, rate: float) -> Mistake:
    """The degraded model's draw: true for a share `rate` of requests, fixed per request + seed."""
    return rate > 0 and request_seed(request.draw_seed, "mistake") / 2**64 < rate


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _agent(request: RuleRequest, data: RuleData) -> str:
    haystack = (request.system + " " + " ".join(t.name for t in request.tools)).lower()
    for agent, keywords in data.intents.detect.items():
        if any(k in haystack or _norm(k) in _norm(haystack) for k in keywords):
            return agent
    return next(iter(data.intents.detect))


def _intent(agent: str, text: str, data: RuleData, allowed: list[str] | None = None) -> str:
    table = data.intents.agents[agent]
    lowered = text.lower()
    for name, intent in table.intents.items():
        if (allowed is None or name in allowed) and any(k in lowered for k in intent.keywords):
            return name
    return table.default


def _tool_for(request: RuleRequest, agent: str, intent: str, data: RuleData) -> ToolSpec | None:
    """The tool the policy calls, if any (None: answer in text)."""
    tools, choice = request.tools, request.tool_choice
    if not tools or choice.mode == "none":
        return None
    if choice.mode == "named":
        return next(t for t in tools if t.name == choice.name)
    if choice.mode == "auto" and request.results_since_user():
        return None  # tool results are in: answer them (agent loops end)
    hints = data.intents.agents[agent].intents.get(intent)
    for hint in hints.tools if hints else []:
        hinted = next((t for t in tools if _norm(hint) in _norm(t.name)), None)
        if hinted is not None:
            return hinted
    user = _norm(request.last_user)
    mentioned = next((t for t in tools if _norm(t.name) in user), None)
    if mentioned is not None or choice.mode == "auto":
        return mentioned
    return tools[0]


def _extracted(request: RuleRequest, data: RuleData, param: str) -> Any:
    extractor = data.extractors.extractor_for(param)
    if extractor is None:
        return None
    for text in reversed(request.texts("user")):
        value = extractor.find(text)
        if value is not None:
            return value
    return None


def _arguments(request: RuleRequest, tool: ToolSpec, data: RuleData) -> dict[str, Any]:
    """Required parameters filled (extracted, else placeholders) plus optional ones something extracts."""
    schema = {**tool.schema, "type": "object"}
    facts = {p.lower(): v for p in schema.get("properties") or {} if (v := _extracted(request, data, p)) is not None}
    return fill_schema(schema, facts, request_seed(request.content_seed, tool.name))


def _call(request: RuleRequest, tool: ToolSpec, data: RuleData, mistake: Mistake) -> ToolCall:
    if mistake and len(request.tools) > 1:  # the wrong tool
        tool = request.tools[(request.tools.index(tool) + 1) % len(request.tools)]
    arguments = _arguments(request, tool, data)
    required = [r for r in tool.schema.get("required") or [] if r in arguments]
    if mistake and len(request.tools) == 1 and required:  # a required argument dropped
        del arguments[required[0]]
    return ToolCall(
        id_suffix=tool_call_id(request.content_seed, tool.name),
        name=tool.name,
        arguments=arguments,
        arguments_json=orjson.dumps(arguments).decode(),
    )


@dataclass(slots=True)
class _Draft:
    """A text answer before formatting, with what a JSON answer can be built from."""

    text: str
    facts: dict[str, Any]


def _facts_of(result: Message) -> tuple[bool, dict[str, Any]]:
    """Whether a tool result is an error, and its scalar fields (one level of nesting, dotted)."""
    try:
        value = orjson.loads(result.text)
    except orjson.JSONDecodeError:
        return False, {"result": result.text.strip()} if result.text.strip() else {}
    if not isinstance(value, dict):
        return False, {"items": len(value)} if isinstance(value, list) else {"result": value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            flat.update({f"{key}.{k}": v for k, v in item.items() if not isinstance(v, dict | list)})
        elif isinstance(item, list):
            flat[key] = f"{len(item)} items"
        else:
            flat[key] = item
    return "error" in value, flat


def _from_results(results: list[Message], intent: str, data: RuleData) -> _Draft:
    lines, facts = [], {"citations": list(range(1, len(results) + 1))}
    for n, result in enumerate(results, 1):
        failed, fields = _facts_of(result)
        facts.update({k.lower(): v for k, v in fields.items()})
        listed = ", ".join(f"{k}: {v}" for k, v in list(fields.items())[:_MAX_FACTS]) or data.templates.no_facts
        template = data.templates.tool_error if failed else data.templates.tool_result
        lines.append(template.format(intent=intent, facts=listed, n=n, tool=result.tool_name or "tool"))
    return _Draft("\n".join(lines), facts)


def _from_sources(sources: list[tuple[int, str]], question: str, data: RuleData) -> _Draft:
    asked = set(_WORD.findall(question.lower()))
    ranked = [(len(asked & set(_WORD.findall(body.lower()))), n, body) for n, body in sources]
    chosen = sorted((n, body) for overlap, n, body in ranked if overlap > 0) or [min(sources)]
    lines = [data.templates.cited_intro]
    for n, body in chosen:
        first = _SENTENCE.match(body.strip())
        lines.append(data.templates.cited.format(sentence=first.group(1) if first else body.strip(), n=n))
    return _Draft("\n".join(lines), {"citations": [n for n, _ in chosen]})


def _lead_score(text: str, data: RuleData) -> int:
    table, lowered = data.intents.lead_score, text.lower()
    score = table.base
    for signal in table.signals:
        if any(k in lowered for k in signal.keywords) and not any(u in lowered for u in signal.unless):
            score += signal.points
    return max(0, min(score, 100))


def _draft(request: RuleRequest, agent: str, intent: str, data: RuleData) -> _Draft:
    """The text answer: tool results, a classification, a lead score, a cited answer, or a chat line."""
    results = request.results_since_user()
    if results:
        return _from_results(results, intent, data)
    options = _OPTIONS.search(request.system)
    if options:
        allowed = [o.strip().lower() for o in options.group(1).split(",") if o.strip()]
        category = _intent(agent, request.last_user, data, allowed)
        category = category if category in allowed else allowed[-1]
        return _Draft(data.templates.classify.format(category=category), {"intent": category})
    if _SCORE_PROMPT.search(request.system):
        score = _lead_score(request.last_user, data)
        return _Draft(data.templates.score.format(score=score), {"score": score})
    sources = [(int(n), body) for n, body in _SOURCE.findall(request.system)]
    if sources:
        return _from_sources(sources, request.last_user, data)
    return _Draft(data.templates.chat.format(intent=intent), {})


def policy_answer(request: RuleRequest, mistake: Mistake) -> str | ToolCall:
    """The policy's reply to `request`: a tool call or text (JSON text when `response_format` asks).

    With `mistake`, exactly one seeded error: the wrong tool (or a required argument dropped when there is
    one tool), a required JSON field dropped, or the citations left out.
    """
    data = load_rule_data()
    agent = _agent(request, data)
    intent = _intent(agent, request.last_user, data)
    tool = _tool_for(request, agent, intent, data)
    if tool is not None:
        return _call(request, tool, data, mistake)
    draft = _draft(request, agent, intent, data)
    draft.facts.setdefault("intent", intent)
    schema = json_schema_of(request.response_format)
    if schema is None:
        return _CITATION.sub("", draft.text) if mistake else draft.text
    for param in ("order_id", "email", "amount"):
        value = _extracted(request, data, param)
        if value is not None:
            draft.facts.setdefault(param, value)
    draft.facts["answer"] = draft.text
    answer = fill_schema(schema, draft.facts, request.content_seed)
    required = [r for r in schema.get("required") or [] if r in answer] or list(answer)[-1:]
    if mistake and required:
        del answer[required[0]]
    return orjson.dumps(answer).decode()
