"""The cache's pure rules: per-tenant settings from flags, Cache-Control, eligibility and the keys.

Exact key: sha256 over the tenant, the alias (and its deployments' models), the normalised messages, every
output-affecting parameter (the request minus transport-only fields) and the tenant's config version.
Semantic candidates must share the alias, the system-prompt hash and the parameters hash (both carry the
config version), and only single-user-turn requests without tools are semantic-eligible.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from aiaas.flags import FlagClient
from aiaas.flags.seed import CACHE_FLAGS
from gateway.catalog.schemas import ModelAlias

__all__ = [
    "CACHE_FLAGS",
    "CacheControl",
    "CacheKey",
    "CacheSettings",
    "cache_control",
    "cache_enabled",
    "plan_key",
    "settings_for",
]

_DEFAULTS = {flag["key"]: flag["default"] for flag in CACHE_FLAGS}

# Fields that change how the answer travels, not what it says.
_TRANSPORT_FIELDS = frozenset({"model", "messages", "stream", "stream_options", "user", "metadata", "store", "n"})
_SYSTEM_ROLES = frozenset({"system", "developer"})
_DEFAULT_TEMPERATURE = 1.0


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """One tenant's cache settings, read from the live flags per request (dict lookups)."""

    enabled: bool
    semantic: bool
    threshold: float
    ttl_s: int
    max_entries: int
    aliases: tuple[str, ...]
    max_temperature: float
    version: int

    def covers(self, alias: str) -> bool:
        return not self.aliases or alias in self.aliases


def cache_enabled(flags: FlagClient, tenant: str) -> bool:
    return flags.is_enabled("cache.enabled", tenant, default=_DEFAULTS["cache.enabled"])


def settings_for(flags: FlagClient, tenant: str, default_threshold: float) -> CacheSettings:
    """The tenant's settings; `default_threshold` applies while cache.threshold_milli is 0."""
    milli = flags.get_int("cache.threshold_milli", tenant, default=_DEFAULTS["cache.threshold_milli"])
    return CacheSettings(
        enabled=cache_enabled(flags, tenant),
        semantic=flags.is_enabled("cache.semantic", tenant, default=_DEFAULTS["cache.semantic"]),
        threshold=milli / 1000 if 0 < milli <= 1000 else default_threshold,
        ttl_s=max(1, flags.get_int("cache.ttl_s", tenant, default=_DEFAULTS["cache.ttl_s"])),
        max_entries=max(0, flags.get_int("cache.max_entries", tenant, default=_DEFAULTS["cache.max_entries"])),
        aliases=tuple(flags.get_list("cache.aliases", tenant, default=[])),
        max_temperature=flags.get_int(
            "cache.max_temperature_centi", tenant, default=_DEFAULTS["cache.max_temperature_centi"]
        )
        / 100,
        version=flags.get_int("cache.version", tenant, default=_DEFAULTS["cache.version"]),
    )


@dataclass(frozen=True, slots=True)
class CacheControl:
    """The request's `Cache-Control`: `no-cache` skips the lookup (the answer is still stored), `no-store` the store."""

    no_cache: bool = False
    no_store: bool = False


def cache_control(value: str | None) -> CacheControl:
    if not value:
        return CacheControl()
    directives = {part.split("=", 1)[0].strip().lower() for part in value.split(",")}
    return CacheControl(no_cache="no-cache" in directives, no_store="no-store" in directives)


@dataclass(frozen=True, slots=True)
class CacheKey:
    """Where one request's answer lives: the exact digest, and the semantic tier's filters and query text."""

    exact: str
    system_hash: str
    params_hash: str
    # The text embedded for the semantic tier (the one user turn); None: exact tier only.
    query: str | None


def _digest(*parts: object) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _text(content: Any) -> Any:
    """Content normalised: a string (NFC, outer whitespace off), text-only parts joined; other parts as given."""
    if isinstance(content, str):
        return unicodedata.normalize("NFC", content).strip()
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return unicodedata.normalize("NFC", "".join(str(p.get("text", "")) for p in content)).strip()
    return content


def _normalise(messages: Iterable[Any]) -> list[dict[str, Any]]:
    normalised = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        item = {key: value for key, value in message.items() if value is not None and key != "content"}
        item["content"] = _text(message.get("content"))
        normalised.append(item)
    return normalised


def _single_user_turn(messages: Sequence[dict[str, Any]]) -> str | None:
    """The user text when the request is system/developer messages then one user message; else None."""
    if not messages or messages[-1].get("role") != "user":
        return None
    if any(m.get("role") not in _SYSTEM_ROLES for m in messages[:-1]):
        return None
    text = messages[-1].get("content")
    return text if isinstance(text, str) and text else None


def plan_key(tenant: str, alias: ModelAlias, payload: Mapping[str, Any], settings: CacheSettings) -> CacheKey | None:
    """The request's cache key, or None when it may not be cached (temperature, logprobs, n, alias)."""
    if not settings.covers(alias.name):
        return None
    temperature = payload.get("temperature")
    if (temperature if isinstance(temperature, (int, float)) else _DEFAULT_TEMPERATURE) > settings.max_temperature:
        return None
    if payload.get("logprobs") or payload.get("top_logprobs") or payload.get("n") not in (None, 1):
        return None
    messages = _normalise(payload.get("messages") or ())
    params = {key: value for key, value in payload.items() if key not in _TRANSPORT_FIELDS}
    models = [(dep.provider, dep.model) for dep in alias.deployments]
    system = [m for m in messages if m.get("role") in _SYSTEM_ROLES]
    system_hash = _digest("system", settings.version, system)
    params_hash = _digest("params", settings.version, alias.name, models, params)
    exact = _digest("exact", tenant, settings.version, alias.name, models, messages, params)
    semantic = settings.semantic and not params.get("tools") and not params.get("functions")
    return CacheKey(exact, system_hash, params_hash, _single_user_turn(messages) if semantic else None)
