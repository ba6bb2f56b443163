"""Rule-based models served over the OpenAI wire: a policy, its degraded twin, and a judge."""

from __future__ import annotations

from typing import Any

import orjson

from provider_sim.completion import Completion
from provider_sim.openai.schemas import ChatCompletionRequest
from provider_sim.rulemodels.judge import judge_reply
from provider_sim.rulemodels.names import DEGRADED_POLICY, JUDGE, POLICY, RULE_MODELS
from provider_sim.rulemodels.policy import draws_mistake, policy_answer
from provider_sim.rulemodels.request import rule_request
from provider_sim.textgen import prompt_tokens, reply_from_text

__all__ = ["DEGRADED_POLICY", "JUDGE", "POLICY", "RULE_MODELS", "rule_completion"]


def rule_completion(
    body: ChatCompletionRequest, raw: dict[str, Any], message_texts: list[str], mistake_rate: float
) -> Completion:
    """The rule model `body.model`'s completion; `mistake_rate` applies to the degraded policy only."""
    request = rule_request(body, raw)
    usage_in = prompt_tokens(message_texts, orjson.dumps(raw["tools"]) if body.tools else None)
    if body.model == JUDGE:
        answer: Any = judge_reply(request)
    else:
        mistake = body.model == DEGRADED_POLICY and draws_mistake(request, mistake_rate)
        answer = policy_answer(request, mistake)
    if isinstance(answer, str):
        return Completion(usage_in, reply_from_text(answer, body.completion_cap, body.stop_sequences), None)
    return Completion(usage_in, None, answer)
