"""`evals/gate.yaml`: the gate's thresholds, validated (a bad file is a `GateConfigError`, exit 2)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from evals.loader import EVALS_DIR

__all__ = ["GATE_FILE", "GateConfig", "GateConfigError", "load_gate_config"]

GATE_FILE = EVALS_DIR / "gate.yaml"


class GateConfigError(ValueError):
    """gate.yaml is missing, not YAML, or a threshold is absent or out of range."""


@dataclass(frozen=True)
class GateConfig:
    critical_pass_rate: float = 1.0
    pass_rate: float = 0.95
    judge_mean_min: float = 0.80
    judge_task_min: float = 0.60
    baseline_min_lower_bound: float = -0.05
    baseline_confidence: float = 0.95
    baseline_resamples: int = 2000
    baseline_seed: int = 16
    flaky_max_share: float = 0.10
    replay_max_divergences: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_FIELDS: dict[str, tuple[str, str, type, float, float]] = {
    # field: (section, key, type, min, max)
    "critical_pass_rate": ("tasks", "critical_pass_rate", float, 0, 1),
    "pass_rate": ("tasks", "pass_rate", float, 0, 1),
    "judge_mean_min": ("judge", "mean_min", float, 0, 1),
    "judge_task_min": ("judge", "task_min", float, 0, 1),
    "baseline_min_lower_bound": ("baseline", "min_lower_bound", float, -1, 1),
    "baseline_confidence": ("baseline", "confidence", float, 0.5, 0.999),
    "baseline_resamples": ("baseline", "resamples", int, 100, 100_000),
    "baseline_seed": ("baseline", "seed", int, 0, 2**63 - 1),
    "flaky_max_share": ("flaky", "max_share", float, 0, 1),
    "replay_max_divergences": ("replay", "max_divergences", int, 0, 1_000_000),
}


def load_gate_config(path: Path = GATE_FILE) -> GateConfig:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GateConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise GateConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise GateConfigError(f"{path}: must be a mapping with version: 1")
    values: dict[str, Any] = {}
    for name, (section, key, kind, low, high) in _FIELDS.items():
        block = data.get(section)
        if not isinstance(block, dict) or key not in block:
            raise GateConfigError(f"{path}: {section}.{key} is missing")
        value = block[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (kind is int and not isinstance(value, int))
        ):
            raise GateConfigError(f"{path}: {section}.{key} must be a {kind.__name__}, not {value!r}")
        if not low <= value <= high:
            raise GateConfigError(f"{path}: {section}.{key} = {value} is outside [{low}, {high}]")
        values[name] = kind(value)
    return GateConfig(**values)
