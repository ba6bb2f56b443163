"""Settings and model-profile loading from env JSON and JSON/YAML files."""

from __future__ import annotations

from pathlib import Path

import pytest

from provider_sim.app import create_app
from provider_sim.config import Settings


def test_yaml_file_then_env_json_override(tmp_path: Path) -> None:
    config = tmp_path / "models.yaml"
    config.write_text("sim-a:\n  ttft_ms: 50\n  fault: '429'\nsim-b:\n  token_delay_ms: 5\n")
    settings = Settings(config_file=config, models_json='{"sim-a": {"ttft_ms": 10}}')
    profiles = settings.model_profiles()
    assert profiles["sim-a"].ttft_ms == 10 and profiles["sim-a"].fault is None
    assert profiles["sim-b"].token_delay_ms == 5


def test_json_file(tmp_path: Path) -> None:
    config = tmp_path / "models.json"
    config.write_text('{"sim-x": {"fault": "drop_stream", "after_tokens": 4, "fault_rate": 0.5}}')
    profile = Settings(config_file=config).model_profiles()["sim-x"]
    assert (profile.fault, profile.after_tokens, profile.fault_rate) == ("drop_stream", 4, 0.5)


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVIDER_SIM_REPLY_MAX_TOKENS", "99")
    monkeypatch.setenv("PROVIDER_SIM_MODELS_JSON", '{"m": {"ttft_ms": 1}}')
    settings = Settings()
    assert settings.reply_max_tokens == 99
    assert settings.model_profiles()["m"].ttft_ms == 1


@pytest.mark.parametrize("raw", ['{"m": {"fault": "418"}}', '{"m": {"ttft_ms": -1}}', '{"m": {"typo": 1}}'])
def test_invalid_profiles_fail_app_creation(raw: str) -> None:
    with pytest.raises(ValueError, match="PROVIDER_SIM_MODELS_JSON"):
        create_app(Settings(models_json=raw))


def test_inverted_reply_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="reply_min_tokens"):
        Settings(reply_min_tokens=10, reply_max_tokens=5)
