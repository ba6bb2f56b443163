"""The rule models' data files (intents, extractors, templates), loaded and validated once."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Extractor", "Intents", "RuleData", "Templates", "load_rule_data"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Intent(_Strict):
    """Keywords that select an intent and the tool-name hints it prefers."""

    keywords: list[str] = Field(min_length=1)
    tools: list[str] = Field(default_factory=list)


class AgentIntents(_Strict):
    """One agent's ordered intent table."""

    default: str
    intents: dict[str, Intent] = Field(min_length=1)


class ScoreSignal(_Strict):
    """Points added to a lead score when a keyword appears (and no `unless` keyword does)."""

    points: int
    keywords: list[str] = Field(min_length=1)
    unless: list[str] = Field(default_factory=list)


class LeadScore(_Strict):
    """Lead-scoring table."""

    base: int = Field(ge=0, le=100)
    signals: list[ScoreSignal]


class Intents(_Strict):
    """intents.yaml."""

    detect: dict[str, list[str]]
    agents: dict[str, AgentIntents]
    lead_score: LeadScore


class Extractor(_Strict):
    """A regex whose first non-empty group (or whole match) is an argument value."""

    pattern: str
    type: Literal["string", "number", "integer"] = "string"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        re.compile(value)
        return value

    def find(self, text: str) -> str | float | int | None:
        """The value in `text`, converted to `type`, or None."""
        match = re.search(self.pattern, text, re.MULTILINE)
        if match is None:
            return None
        found = next((g for g in match.groups() if g), match.group(0)).strip()
        if not found:
            return None
        if self.type == "number":
            return float(found)
        if self.type == "integer":
            return int(float(found))
        return found


class ArgumentRule(_Strict):
    """Tool parameters whose name fully matches `param` take `extractor`'s value."""

    param: str
    extractor: str


class Extractors(_Strict):
    """extractors.yaml."""

    extractors: dict[str, Extractor]
    arguments: list[ArgumentRule]

    @field_validator("arguments")
    @classmethod
    def _known(cls, rules: list[ArgumentRule], info: Any) -> list[ArgumentRule]:
        known = info.data.get("extractors", {})
        for rule in rules:
            if rule.extractor not in known:
                raise ValueError(f"argument rule {rule.param!r} names unknown extractor {rule.extractor!r}")
        return rules

    def extractor_for(self, param: str) -> Extractor | None:
        """The extractor filling parameter `param`, if a rule matches its name."""
        for rule in self.arguments:
            if re.fullmatch(rule.param, param, re.IGNORECASE):
                return self.extractors[rule.extractor]
        return None


class Templates(_Strict):
    """templates.yaml."""

    classify: str
    score: str
    cited_intro: str
    cited: str
    tool_result: str
    tool_error: str
    no_facts: str
    chat: str


class RuleData(_Strict):
    """Everything the rule models read from data files."""

    intents: Intents
    extractors: Extractors
    templates: Templates


def _read(name: str) -> Any:
    return yaml.safe_load(resources.files("provider_sim.rulemodels").joinpath("data", name).read_text("utf-8"))


@cache
def load_rule_data() -> RuleData:
    """The packaged data files, validated (raises pydantic.ValidationError when one is malformed)."""
    return RuleData(
        intents=Intents.model_validate(_read("intents.yaml")),
        extractors=Extractors.model_validate(_read("extractors.yaml")),
        templates=Templates.model_validate(_read("templates.yaml")),
    )
