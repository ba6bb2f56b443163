"""The judge: scores one run's output against a rubric through the gateway, epochs averaged, verdicts cached.

Each epoch is one chat completion at temperature 0 with its own seed (derived from the base seed), a strict JSON
response format and the neutralised prompt of `prompt.py`. The reply is parsed strictly (`parse.py`) and the
epoch's score is computed here from the weighted `met` verdicts; the result's score is the epochs' mean.
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema

from evals.judge import prompt
from evals.judge.cache import VerdictCache, cache_key
from evals.judge.errors import JudgeCallCapExceeded, JudgeCallError, JudgeParseError
from evals.judge.parse import parse_verdicts
from evals.judge.rubric import Rubric, load, weighted_score
from evals.loader import RUBRICS_DIR

__all__ = ["Judge", "JudgeResult", "JudgeSettings", "epoch_seed"]


@dataclass(frozen=True, slots=True)
class JudgeSettings:
    """`gateway_url` is the gateway's base URL (`/v1` is added when missing); `api_key` a tenant key with chat.

    `max_calls` caps the judge calls one Judge (one run) may make; None means no cap. `cache_dir` None: no cache.
    """

    gateway_url: str
    api_key: str
    model: str = "sim-judge-v1"
    epochs: int = 3
    seed: int = 0
    cache_dir: Path | None = None
    max_calls: int | None = 500
    temperature: float = 0.0
    max_tokens: int = 2048
    timeout_s: float = 60.0
    max_retries: int = 2
    rubrics_dir: Path = RUBRICS_DIR

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError("epochs must be at least 1")
        if self.max_calls is not None and self.max_calls < 0:
            raise ValueError("max_calls must be >= 0 (or None for no cap)")


@dataclass(frozen=True, slots=True)
class JudgeResult:
    """`criteria`: per criterion `{id, weight, met: [bool per epoch], evidence: [str per epoch], met_share}`.

    `calls` counts the judge calls this score made (0 when every epoch came from the cache, then `cached`).
    """

    task_id: str
    rubric_ref: str
    model: str
    score: float
    epoch_scores: list[float]
    criteria: list[dict[str, Any]]
    calls: int
    cached: bool
    seeds: list[int] = field(default_factory=list)


def epoch_seed(base_seed: int, epoch: int) -> int:
    """A distinct, stable seed per epoch: 31 bits of sha256("<base>/<epoch>")."""
    digest = hashlib.sha256(f"{base_seed}/{epoch}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _base_url(gateway_url: str) -> str:
    url = gateway_url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


class Judge:
    """One per run: it holds the gateway client, the verdict cache and the run's call count (for the cap)."""

    def __init__(self, settings: JudgeSettings) -> None:
        self.settings = settings
        self.calls_made = 0
        self._client = openai.AsyncOpenAI(
            base_url=_base_url(settings.gateway_url),
            api_key=settings.api_key,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )
        self._cache = VerdictCache(settings.cache_dir) if settings.cache_dir is not None else None
        self._rubrics: dict[str, Rubric] = {}

    def rubric(self, ref: str) -> Rubric:
        if ref not in self._rubrics:
            self._rubrics[ref] = load(ref, self.settings.rubrics_dir)
        return self._rubrics[ref]

    async def score(
        self, *, task_id: str, rubric_ref: str, input_messages: list[dict[str, Any]], output: dict[str, Any] | str
    ) -> JudgeResult:
        """The rubric's weighted score of `output`, averaged over the epochs; JudgeError when it cannot be had."""
        rubric = self.rubric(rubric_ref)
        seeds = [epoch_seed(self.settings.seed, epoch) for epoch in range(self.settings.epochs)]
        # Keyed by the answer as judged: for a text rubric, fields of the output it never sees (ids, timings)
        # do not bust the cache.
        answer = prompt.render_answer(rubric, output)
        keys = [self._key(rubric, input_messages, answer, epoch, seed) for epoch, seed in enumerate(seeds)]
        epochs: list[list[dict[str, Any]] | None] = [self._cached(rubric, key) for key in keys]
        misses = [epoch for epoch, verdicts in enumerate(epochs) if verdicts is None]
        self._reserve(len(misses))
        messages = prompt.judge_messages(rubric, input_messages, answer)
        # Every epoch's call is awaited, even when one fails: the good ones are cached, none is left running.
        fresh = await asyncio.gather(
            *(self._call(rubric, messages, seeds[epoch]) for epoch in misses), return_exceptions=True
        )
        for epoch, verdicts in zip(misses, fresh, strict=True):
            if isinstance(verdicts, BaseException):
                continue
            epochs[epoch] = verdicts
            if self._cache is not None:
                self._cache.put(keys[epoch], verdicts)
        failure = next((outcome for outcome in fresh if isinstance(outcome, BaseException)), None)
        if failure is not None:
            raise failure
        return self._result(task_id, rubric, [v for v in epochs if v is not None], len(misses), seeds)

    def _result(
        self, task_id: str, rubric: Rubric, epochs: list[list[dict[str, Any]]], calls: int, seeds: list[int]
    ) -> JudgeResult:
        weights = rubric.weights
        epoch_scores = [weighted_score(weights, {v["id"]: v["met"] for v in verdicts}) for verdicts in epochs]
        criteria = []
        for index, criterion in enumerate(rubric.ids):
            met = [verdicts[index]["met"] for verdicts in epochs]
            criteria.append(
                {
                    "id": criterion,
                    "weight": weights[criterion],
                    "met": met,
                    "met_share": sum(met) / len(met),
                    "evidence": [verdicts[index]["evidence"] for verdicts in epochs],
                }
            )
        return JudgeResult(
            task_id=task_id,
            rubric_ref=rubric.ref,
            model=self.settings.model,
            score=statistics.fmean(epoch_scores),
            epoch_scores=epoch_scores,
            criteria=criteria,
            calls=calls,
            cached=calls == 0,
            seeds=seeds,
        )

    def _key(self, rubric: Rubric, input_messages: list[dict[str, Any]], answer: str, epoch: int, seed: int) -> str:
        return cache_key(
            model=self.settings.model,
            rubric_ref=rubric.ref,
            rubric_digest=rubric.digest,
            prompt_version=prompt.PROMPT_VERSION,
            input_messages=input_messages,
            answer=answer,
            epoch=epoch,
            seed=seed,
        )

    def _cached(self, rubric: Rubric, key: str) -> list[dict[str, Any]] | None:
        if self._cache is None:
            return None
        verdicts = self._cache.get(key)
        if verdicts is None or [v.get("id") for v in verdicts] != rubric.ids:
            return None
        if not all(isinstance(v.get("met"), bool) for v in verdicts):
            return None
        return verdicts

    def _reserve(self, calls: int) -> None:
        """Count `calls` against the cap before any is made: a score the cap cannot cover makes no call at all."""
        cap = self.settings.max_calls
        if cap is not None and self.calls_made + calls > cap:
            raise JudgeCallCapExceeded(cap)
        self.calls_made += calls

    async def _call(self, rubric: Rubric, messages: list[dict[str, str]], seed: int) -> list[dict[str, Any]]:
        try:
            completion = await self._client.chat.completions.create(
                model=self.settings.model,
                messages=cast("list[ChatCompletionMessageParam]", messages),
                temperature=self.settings.temperature,
                seed=seed,
                max_tokens=self.settings.max_tokens,
                response_format=cast("ResponseFormatJSONSchema", prompt.response_format(rubric)),
            )
        except openai.APIStatusError as exc:
            raise JudgeCallError(
                f"judge call to {self.settings.model} failed: HTTP {exc.status_code}: {exc.message}"
            ) from exc
        except openai.APIConnectionError as exc:
            raise JudgeCallError(f"judge call to {self.settings.model}: the gateway is unreachable ({exc})") from exc
        if not completion.choices:
            raise JudgeParseError("judge reply rejected: no choices")
        choice = completion.choices[0]
        if choice.message.refusal:
            raise JudgeParseError(f"judge reply rejected: the judge refused ({choice.message.refusal})")
        return parse_verdicts(choice.message.content, rubric.ids, choice.finish_reason)

    async def aclose(self) -> None:
        await self._client.close()
