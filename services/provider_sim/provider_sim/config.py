"""Settings of the provider simulator (env prefix `PROVIDER_SIM_`) and per-model profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_settings import SettingsConfigDict

from aiaas.standin import StandinSettings

__all__ = ["FaultName", "ModelProfile", "Settings"]

FaultName = Literal["500", "429", "529", "timeout", "drop_stream"]


class ModelProfile(BaseModel):
    """Latency, reply length and standing fault of one model (all optional)."""

    model_config = ConfigDict(extra="forbid")

    ttft_ms: float = Field(0.0, ge=0)
    token_delay_ms: float = Field(0.0, ge=0)
    fault: FaultName | None = None
    fault_rate: float = Field(1.0, ge=0, le=1, description="Share of requests that get `fault`.")
    after_tokens: int | None = Field(None, ge=0, description="Chunks sent before drop_stream cuts.")
    reply_min_tokens: int | None = Field(None, ge=1)
    reply_max_tokens: int | None = Field(None, ge=1)


_PROFILES = TypeAdapter(dict[str, ModelProfile])


class Settings(StandinSettings):
    """Simulator settings; model profiles come from `models_json` and/or `config_file`."""

    model_config = SettingsConfigDict(
        env_prefix="PROVIDER_SIM_", env_file=".env", extra="ignore", populate_by_name=True
    )

    service_name: str = "provider-sim"
    port: int = 8090
    models_json: str | None = Field(None, description='JSON: {"model": {"ttft_ms": 50, ...}}')
    config_file: Path | None = Field(None, description="JSON or YAML file with the same mapping.")
    default_models: list[str] = ["sim-gpt-small", "sim-gpt-large", "sim-claude", "sim-embedding"]
    reply_min_tokens: int = Field(20, ge=1)
    reply_max_tokens: int = Field(60, ge=1)
    timeout_hold_s: float = Field(60.0, gt=0, description="How long a 'timeout' fault holds a request.")
    retry_after_s: int = Field(1, ge=0, description="`retry-after` sent with 429 faults.")
    drop_after_tokens: int = Field(2, ge=0, description="Default chunks before a drop_stream fault.")
    embedding_dimensions: int = Field(1536, ge=1, le=8192)
    fault_rate_seed: int = Field(0, description="Seed of the draw deciding partial-rate faults.")
    degraded_rate: float = Field(
        0.5, ge=0, le=1, description="Share of requests on which sim-policy-v1-degraded makes a seeded mistake."
    )

    @model_validator(mode="after")
    def _reply_range(self) -> Settings:
        """Reject an inverted default reply-length range."""
        if self.reply_min_tokens > self.reply_max_tokens:
            raise ValueError("reply_min_tokens must not exceed reply_max_tokens")
        return self

    def model_profiles(self) -> dict[str, ModelProfile]:
        """Profiles from the config file, overridden by `models_json`; raises ValueError if invalid."""
        profiles: dict[str, ModelProfile] = {}
        if self.config_file is not None:
            text = self.config_file.read_text()
            raw = yaml.safe_load(text) if self.config_file.suffix in {".yaml", ".yml"} else orjson.loads(text)
            profiles.update(_validate_profiles(raw, str(self.config_file)))
        if self.models_json:
            profiles.update(_validate_profiles(orjson.loads(self.models_json), "PROVIDER_SIM_MODELS_JSON"))
        return profiles


def _validate_profiles(raw: object, source: str) -> dict[str, ModelProfile]:
    """Validate a {model: profile} mapping, naming its source on error."""
    try:
        return _PROFILES.validate_python(raw or {})
    except ValidationError as exc:
        raise ValueError(f"invalid model profiles in {source}: {exc}") from exc
