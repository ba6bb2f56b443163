"""The cache's data: a stored answer, a hit, and the bodies of the cache endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel

from gateway.usage.meter import CacheStatus

__all__ = ["CachedAnswer", "CacheHit", "CacheDeleted", "CacheStatus", "CacheSummary", "StoredEntry"]


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A complete assistant answer (finish_reason stop or length), with the usage it cost when it was made."""

    content: str
    finish_reason: str
    model: str
    prompt_tokens: int
    completion_tokens: int

    def to_json(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "finish_reason": self.finish_reason,
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CachedAnswer:
        """Raises KeyError/TypeError/ValueError on a malformed document."""
        return cls(
            content=str(data["content"]),
            finish_reason=str(data["finish_reason"]),
            model=str(data["model"]),
            prompt_tokens=int(data["prompt_tokens"]),
            completion_tokens=int(data["completion_tokens"]),
        )


@dataclass(frozen=True, slots=True)
class CacheHit:
    entry_id: str
    status: Literal["exact", "semantic"]
    answer: CachedAnswer
    # The cosine between the request and the cached question (semantic hits; 1.0 for exact ones).
    similarity: float
    # A semantic hit's entry's exact key (None for exact hits).
    entry_key: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """A semantic candidate as the repository returns it."""

    entry_id: str
    # The entry's exact key (what its semantic hits link their own exact keys to).
    exact_key: str
    query: str
    # The answer's JSON document as read: parsed (`answer()`) only for the candidate chosen, most searches choose none.
    answer_json: str
    similarity: float
    # The entry's cosine to the nearest candidate (1 for that one): tells a rewording of it from a rival question.
    to_nearest: float = 1.0

    def answer(self) -> CachedAnswer:
        """Raises ValueError on a malformed document."""
        try:
            return CachedAnswer.from_json(orjson.loads(self.answer_json))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed cached answer: {exc!r}") from exc


class CacheDeleted(BaseModel):
    """DELETE /v1/cache and /v1/cache/{id}."""

    object: Literal["cache.deleted"] = "cache.deleted"
    deleted: int
    model: str | None = None
    id: str | None = None


class CacheSummary(BaseModel):
    """GET /v1/cache: the caller's settings and how many entries it holds."""

    object: Literal["cache.summary"] = "cache.summary"
    enabled: bool
    semantic: bool
    threshold: float
    ttl_s: int
    max_entries: int
    aliases: list[str]
    max_temperature: float
    version: int
    entries: int
