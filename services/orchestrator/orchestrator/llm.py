"""The orchestrator's one way to call a model: the gateway's OpenAI-compatible API with the service credential.

Every call names the tenant it is for (`x-aiaas-tenant-id`), the run and the step (`x-aiaas-run-id`,
`x-aiaas-step`), so the gateway meters, limits and bills it as the tenant's and its `requests` row joins the run's
step. No provider keys live here and nothing is retried here (`max_retries=0`): the gateway owns failover, and a
failed call is a failed step.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import openai
import orjson

from aiaas.service_callers import COST_HEADER, RUN_ID_HEADER, STEP_HEADER, TENANT_HEADER

__all__ = ["DEPLOYMENT_HEADER", "GatewayLLM", "LLMCallError", "LLMReply"]

# The gateway names the deployment it chose for the alias (gateway/chat/service.py): the episode's alias ->
# deployment version.
DEPLOYMENT_HEADER = "x-aiaas-deployment"


@dataclass(frozen=True)
class LLMReply:
    """A model's answer with what the episode record keeps of it."""

    text: str
    model: str
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    latency_ms: float
    request_id: str | None
    # The deployment the gateway routed the alias to (`x-aiaas-deployment`) and the whole reply as it came.
    deployment: str | None = None
    completion: dict[str, Any] | None = None

    def as_record(self, *, bodies: bool = True) -> dict[str, Any]:
        """What the episode record keeps: the text, the model and deployment, and the full reply unless `bodies`
        is off (the recording-cost benchmark's baseline only: such a record cannot be replayed byte for byte)."""
        record: dict[str, Any] = {
            "text": self.text,
            "model": self.model,
            "deployment": self.deployment,
            "request_id": self.request_id,
        }
        if bodies:
            record["completion"] = self.completion
        return record


class LLMCallError(Exception):
    """A model call that failed: the gateway's status and error code when it answered, else a transport error."""

    def __init__(self, code: str, message: str, *, status: int | None = None, latency_ms: float = 0.0) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.latency_ms = latency_ms


class GatewayLLM:
    """`AsyncOpenAI(base_url=<gateway>/v1, api_key=<service key>, max_retries=0)` plus the tenant, run and step.

    `service_key` is the orchestrator's service credential (the platform-admin key named "orchestrator"); the
    engine also presents it to ingestion's search. Close with `aclose()`.
    """

    def __init__(self, gateway_url: str, service_key: str, *, timeout_s: float = 60.0) -> None:
        self.service_key = service_key
        self._client = openai.AsyncOpenAI(
            base_url=f"{gateway_url.rstrip('/')}/v1", api_key=service_key, max_retries=0, timeout=timeout_s
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def chat(
        self,
        *,
        tenant_id: uuid.UUID,
        run_id: uuid.UUID,
        step: str,
        model: str,
        messages: list[dict[str, str]],
        seed: int | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> LLMReply:
        """One chat completion; `LLMCallError` for any failure (the gateway's error code when it sent one)."""
        headers = {TENANT_HEADER: str(tenant_id), RUN_ID_HEADER: str(run_id), STEP_HEADER: step}
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if seed is not None:
            body["seed"] = seed
        started = time.perf_counter()
        try:
            # The SDK's client (auth, base URL, timeout, no retries, its status errors) with a plain JSON body and
            # the raw reply: `chat.completions.create` re-derives its TypedDicts' type hints to transform the
            # request and builds pydantic models of the reply, ~13 % of a bench episode's worker CPU.
            raw = await self._client.post(
                "/chat/completions", cast_to=httpx.Response, body=body, options={"headers": headers}
            )
            completion = orjson.loads(raw.content)
        except openai.APIStatusError as exc:
            latency = (time.perf_counter() - started) * 1000
            raise LLMCallError(_error_code(exc), _message(exc), status=exc.status_code, latency_ms=latency) from None
        except openai.APIError as exc:  # connection errors and timeouts
            latency = (time.perf_counter() - started) * 1000
            raise LLMCallError("gateway_unavailable", str(exc)[:500], latency_ms=latency) from None
        except orjson.JSONDecodeError as exc:
            latency = (time.perf_counter() - started) * 1000
            raise LLMCallError("gateway_bad_reply", str(exc)[:500], latency_ms=latency) from None
        latency = (time.perf_counter() - started) * 1000
        if not isinstance(completion, dict):
            raise LLMCallError("gateway_bad_reply", "the reply is not a JSON object", latency_ms=latency)
        usage = completion.get("usage") or {}
        choices = completion.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content")
        return LLMReply(
            text=text if isinstance(text, str) else "",
            model=str(completion.get("model") or model),
            tokens_in=int(usage.get("prompt_tokens") or 0),
            tokens_out=int(usage.get("completion_tokens") or 0),
            cost_usd=_cost(raw.headers.get(COST_HEADER)),
            latency_ms=latency,
            request_id=raw.headers.get("x-request-id"),
            deployment=raw.headers.get(DEPLOYMENT_HEADER),
            completion=completion,
        )


def _error_code(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return str(error["code"])
    return f"gateway_{exc.status_code}"


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:500]
    return str(exc)[:500]


def _cost(value: str | None) -> Decimal:
    if not value:
        return Decimal(0)
    try:
        cost = Decimal(value)
    except InvalidOperation:
        return Decimal(0)
    return cost if cost.is_finite() and cost >= 0 else Decimal(0)
